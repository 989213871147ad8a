fn main() -> ::std::process::ExitCode {
    fn blazer_driver() -> blazer::Result<()> {
        blazer::root_println!("hi");
        Ok(())
    }
    ::blazer::run(blazer_driver)
}
