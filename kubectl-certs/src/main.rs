//! `kubectl certs`: see the crate documentation of [`kubectl_certs`].

fn main() -> std::process::ExitCode {
    kubectl_certs::main()
}
