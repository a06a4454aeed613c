//! `kubectl rflush`: see the crate documentation of [`kubectl_rflush`].

fn main() -> std::process::ExitCode {
    kubectl_rflush::main()
}
