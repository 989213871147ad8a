fn main() -> ::std::process::ExitCode {
    ::blazer::run(|| -> blazer::Result<()> {
        blazer::root_println!("hi");
        Ok(())
    })
}
