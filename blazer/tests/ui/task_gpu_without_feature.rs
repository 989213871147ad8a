// `#[blazer::task(gpu)]` needs the `gpu` feature of blazer.
#[blazer::task(gpu)]
fn on_gpu(x: Vec<f32>) -> Vec<f32> {
    x
}

fn main() {}
