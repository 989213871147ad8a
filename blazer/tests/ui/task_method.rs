struct S;

impl S {
    #[blazer::task]
    fn run(&self) -> i32 {
        1
    }
}

fn main() {}
