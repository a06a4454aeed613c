//! Running commands in the debug container through the API (`pods/exec`).

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::Api;
use kube::api::AttachParams;
use shared::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What a finished remote command produced.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: String,
    /// Exit code (0 on success; None if the API did not say).
    pub code: Option<i32>,
}

impl Output {
    /// Standard output as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// The exit code from the exec status (`Success`, or `NonZeroExitCode` with an `ExitCode` cause).
pub fn exit_code(status: Option<&Status>) -> Option<i32> {
    let status = status?;
    if status.status.as_deref() == Some("Success") {
        return Some(0);
    }
    status
        .details
        .as_ref()?
        .causes
        .as_ref()?
        .iter()
        .find(|c| c.reason.as_deref() == Some("ExitCode"))
        .and_then(|c| c.message.as_deref()?.parse().ok())
}

async fn drain(mut r: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut buf = Vec::new();
    let _ = r.read_to_end(&mut buf).await;
    buf
}

fn exec_error(pod: &str, err: kube::Error) -> anyhow::Error {
    Error::kube(format!("exec in debug pod {pod:?} (pods/exec)"), err).into()
}

/// Runs `command` in `container` of `pod` (a session's [`crate::session::Session::container`])
/// and collects its output.
pub async fn run(
    pods: &Api<Pod>,
    pod: &str,
    container: &str,
    command: Vec<String>,
) -> anyhow::Result<Output> {
    let params = AttachParams::default()
        .container(container)
        .stdin(false)
        .stdout(true)
        .stderr(true);
    let mut proc = pods
        .exec(pod, command, &params)
        .await
        .map_err(|e| exec_error(pod, e))?;
    let stdout = proc.stdout().context("exec has no stdout")?;
    let stderr = proc.stderr().context("exec has no stderr")?;
    let status = proc.take_status().context("exec has no status")?;
    let (out, err) = tokio::join!(drain(stdout), drain(stderr));
    let status = status.await;
    proc.join()
        .await
        .map_err(|e| anyhow::anyhow!("exec in debug pod {pod}: {e}"))?;
    Ok(Output {
        stdout: out,
        stderr: String::from_utf8_lossy(&err).into_owned(),
        code: exit_code(status.as_ref()),
    })
}

/// Runs `command`, streaming its stdout into `sink` (and stderr to ours), returning the bytes
/// written and the exit code.
pub async fn stream_to<W: AsyncWrite + Unpin>(
    pods: &Api<Pod>,
    pod: &str,
    container: &str,
    command: Vec<String>,
    sink: &mut W,
) -> anyhow::Result<(u64, Option<i32>)> {
    let params = AttachParams::default()
        .container(container)
        .stdin(false)
        .stdout(true)
        .stderr(true);
    let mut proc = pods
        .exec(pod, command, &params)
        .await
        .map_err(|e| exec_error(pod, e))?;
    let mut stdout = proc.stdout().context("exec has no stdout")?;
    let mut stderr = proc.stderr().context("exec has no stderr")?;
    let status = proc.take_status().context("exec has no status")?;
    let err_task = tokio::spawn(async move {
        let mut out = tokio::io::stderr();
        let _ = tokio::io::copy(&mut stderr, &mut out).await;
    });
    let written = tokio::io::copy(&mut stdout, sink)
        .await
        .context("writing the stream")?;
    sink.flush().await.context("flushing the stream")?;
    let _ = err_task.await;
    let status = status.await;
    Ok((written, exit_code(status.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_from_status() {
        let ok: Status = serde_json::from_value(serde_json::json!({"status": "Success"})).unwrap();
        assert_eq!(exit_code(Some(&ok)), Some(0));
        let bad: Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}
        }))
        .unwrap();
        assert_eq!(exit_code(Some(&bad)), Some(3));
        assert_eq!(exit_code(None), None);
    }
}
