#[blazer::main]
async fn start(args: Vec<String>) {
    let _ = args;
}
