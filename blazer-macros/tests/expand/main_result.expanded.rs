fn main() -> ::std::process::ExitCode {
    fn blazer_driver() -> blazer::Result<()> {
        blazer::print!("hi");
        Ok(())
    }
    ::blazer::run(blazer_driver)
}
