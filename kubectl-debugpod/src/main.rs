//! `kubectl debugpod`: see the crate documentation of [`kubectl_debugpod`].

fn main() -> std::process::ExitCode {
    kubectl_debugpod::main()
}
