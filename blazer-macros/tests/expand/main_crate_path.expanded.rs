fn main() -> ::std::process::ExitCode {
    my_blazer::run(|| {})
}
