//! The `convoy` binary: see `convoy --help`.

fn main() -> std::process::ExitCode {
    convoy::cli::main()
}
