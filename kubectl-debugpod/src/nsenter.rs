//! Entering the target's network namespace from a separate `hostPID` debug pod: find a PID of
//! the target on the node by scanning `/proc` (the anchors' Strategy B), then `nsenter -t PID -n`.
//!
//! Matching, most specific first: the container ID inside `/proc/PID/cgroup` (substring, so
//! cgroupfs, systemd `cri-containerd-<id>.scope` and cgroup namespaces all work); then the
//! kubelet's per-container mount `pods/<uid>/containers/<name>/` in `/proc/PID/mountinfo`
//! (works when the cgroup path does not name the container); then anything of the pod
//! (`pod<uid>` / `pod<uid with _>` in the cgroup, `pods/<uid>/` in mountinfo), which is enough
//! for the network namespace because every container of a pod shares it.

use crate::target::Target;

/// Shell functions (POSIX sh / busybox) that find the target's PIDs. They read the variables
/// `DP_UID`, `DP_CID` and `DP_CNAME`.
pub const FIND_PID_FUNCTIONS: &str = r#"
dp_pids_sorted() { ls /proc | grep -E '^[0-9]+$' | sort -n; }
dp_find_pid() {
  dp_uid_=$(echo "$DP_UID" | tr - _)
  if [ -n "$DP_CID" ]; then
    for p in $(dp_pids_sorted); do
      case "$(cat /proc/$p/cgroup 2>/dev/null)" in *"$DP_CID"*) echo "$p"; return 0;; esac
    done
  fi
  dp_any=""
  for p in $(dp_pids_sorted); do
    mi=$(cat /proc/$p/mountinfo 2>/dev/null) || continue
    case "$mi" in *"pods/$DP_UID/containers/$DP_CNAME/"*) echo "$p"; return 0;; esac
    if [ -z "$dp_any" ]; then
      case "$(cat /proc/$p/cgroup 2>/dev/null) $mi" in *"pod$DP_UID"*|*"pod$dp_uid_"*|*"pods/$DP_UID/"*) dp_any=$p;; esac
    fi
  done
  [ -n "$dp_any" ] && echo "$dp_any" && return 0
  return 1
}
dp_pod_pids() {
  dp_uid_=$(echo "$DP_UID" | tr - _)
  for p in $(dp_pids_sorted); do
    c=$(cat /proc/$p/cgroup 2>/dev/null) || continue
    if [ -n "$DP_CID" ]; then case "$c" in *"$DP_CID"*) echo "$p"; continue;; esac; fi
    case "$(cat /proc/$p/mountinfo 2>/dev/null)" in *"pods/$DP_UID/containers/$DP_CNAME/"*) echo "$p";; esac
  done
}
"#;

/// Single-quotes a string for sh.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The script prologue: variables naming the target, the finder functions, and `TPID` set to
/// the target's PID (exits 125 with a message when none is found on this node).
pub fn prologue(target: &Target, container: Option<&str>) -> String {
    let c = target.container(container).ok();
    let cid = c.and_then(|c| c.id.clone()).unwrap_or_default();
    let cname = c.map(|c| c.name.clone()).unwrap_or_default();
    format!(
        "DP_UID={}; DP_CID={}; DP_CNAME={}\n{FIND_PID_FUNCTIONS}\nTPID=$(dp_find_pid) || {{ echo \"debugpod: no process of pod $DP_UID found on this node (is the debug pod hostPID, on the target's node?)\" >&2; exit 125; }}\n",
        quote(&target.uid),
        quote(&cid),
        quote(&cname)
    )
}

/// A command line that runs `args` inside the target's network namespace.
pub fn in_target_netns(target: &Target, container: Option<&str>, args: &[String]) -> Vec<String> {
    let script = format!(
        "{}exec nsenter -t \"$TPID\" -n -- \"$@\"\n",
        prologue(target, container)
    );
    let mut cmd = vec![
        "/bin/sh".to_string(),
        "-c".to_string(),
        script,
        "debugpod".to_string(),
    ];
    cmd.extend(args.iter().cloned());
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::from_pod(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "t", "namespace": "n", "uid": "1234-abcd"},
                "spec": {"containers": [{"name": "app"}]},
                "status": {"containerStatuses": [{"name": "app", "containerID": "containerd://feed", "image": "i", "imageID": "", "ready": true, "restartCount": 0}]}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("a'b"), r"'a'\''b'");
    }

    #[test]
    fn command_passes_args_positionally() {
        let cmd = in_target_netns(&target(), None, &["ip".into(), "addr".into()]);
        assert_eq!(&cmd[..2], ["/bin/sh", "-c"]);
        assert!(cmd[2].contains("DP_UID='1234-abcd'; DP_CID='feed'; DP_CNAME='app'"));
        assert!(cmd[2].contains("nsenter -t \"$TPID\" -n -- \"$@\""));
        assert_eq!(&cmd[3..], ["debugpod", "ip", "addr"]);
    }

    /// Runs the finder against a fake /proc layout is not possible (it reads /proc), but the
    /// script must at least be valid sh.
    #[test]
    fn script_is_valid_sh() {
        let script = prologue(&target(), None);
        let status = std::process::Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(&script)
            .status()
            .unwrap();
        assert!(status.success());
    }
}
