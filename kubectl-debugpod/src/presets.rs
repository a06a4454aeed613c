//! The `network` and `system` presets: one shell script per preset, run in one `pods/exec`
//! round trip, printing sections between marker lines that [`parse`] turns into structure.
//!
//! network (inside the target's network namespace when the profile can enter it): addresses,
//! routes, listening sockets, DNS (the target's resolv.conf and a lookup of the cluster's
//! `kubernetes.default` Service), and connectivity from the debug pod to each declared port.
//! system (needs the node's PID view, i.e. `hostPID`): the target's processes, status,
//! limits, memory and open-file count.

use clap::ValueEnum;
use serde::Serialize;

use crate::nsenter::{prologue, quote};
use crate::profile::Profile;
use crate::target::Target;

/// Marker that starts and ends sections in the script output.
const MARK: &str = "@@debugpod@@";

/// A preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Addresses, routes, listening sockets, DNS, connectivity to the target's ports.
    Network,
    /// Processes, status, limits, memory, open files of the target.
    System,
}

/// One section of a preset's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Section {
    /// Short name (`addresses`, `routes`, ...).
    pub name: String,
    /// The command that produced it.
    pub command: String,
    /// Its exit code.
    pub exit_code: i32,
    /// Its output (stdout and stderr).
    pub output: String,
}

/// Where the commands ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum View {
    /// Inside the target's network namespace (and with its PID view).
    Target,
    /// In the debug pod's own namespaces (the profile cannot enter the target's).
    DebugPod,
    /// Inside a copy of the target (a copy session): the copy's own namespaces.
    Copy,
    /// In the node's namespaces (a node session: hostNetwork, hostPID, the host's PID 1).
    Host,
}

/// The shell helpers every preset uses: `dp_run NAME CMD...` prints a section.
const HELPERS: &str = r#"
dp_run() { dp_n=$1; shift; echo "@@debugpod@@ section $dp_n $*"; "$@" 2>&1; dp_rc=$?; echo; echo "@@debugpod@@ exit $dp_rc"; }
dp_sh() { dp_n=$1; shift; echo "@@debugpod@@ section $dp_n $1"; ( eval "$1" ) 2>&1; dp_rc=$?; echo; echo "@@debugpod@@ exit $dp_rc"; }
"#;

/// The cluster Service every cluster has; resolving it proves cluster DNS works.
pub const CLUSTER_SERVICE: &str = "kubernetes.default.svc.cluster.local";

/// The script for `preset` against `target`, for a session with `profile`.
pub fn script(
    preset: Preset,
    target: &Target,
    profile: Profile,
    container: Option<&str>,
) -> (View, String) {
    let enter = profile.can_enter_netns() && !target.host_network;
    let view = if enter { View::Target } else { View::DebugPod };
    let mut s = String::from("export LC_ALL=C\n");
    if profile.host_pid() {
        s.push_str(&prologue(target, container));
    }
    s.push_str(HELPERS);
    let ns = if enter { "nsenter -t $TPID -n" } else { "" };
    match preset {
        Preset::Network => {
            let resolv = if enter {
                "/proc/$TPID/root/etc/resolv.conf"
            } else {
                "/etc/resolv.conf"
            };
            s.push_str(&network_body(ns, resolv));
            s.push_str(&connectivity(target));
        }
        Preset::System => {
            if profile.host_pid() {
                s.push_str(
                    r#"dp_sh processes 'for p in $(dp_pod_pids); do printf "%s %s %s\n" "$p" "$(awk "/^State:/ {print \$2}" /proc/$p/status)" "$(tr "\0" " " < /proc/$p/cmdline)"; done'
dp_run status grep -E '^(Name|State|Pid|PPid|Uid|Gid|Threads|NSpid|voluntary_ctxt_switches|nonvoluntary_ctxt_switches):' /proc/$TPID/status
dp_run limits cat /proc/$TPID/limits
dp_run memory grep -E '^(VmPeak|VmSize|VmHWM|VmRSS|RssAnon|RssFile|VmSwap):' /proc/$TPID/status
dp_sh open-files 'echo "$(ls /proc/$TPID/fd | wc -l) open files (pid $TPID); limit $(awk "/Max open files/ {print \$4}" /proc/$TPID/limits)"'
"#,
                );
            } else {
                s.push_str(&format!(
                    "echo \"{MARK} section processes (needs hostPID)\"; echo 'the {profile} profile cannot see the target'\"'\"'s processes; create a session with --profile netadmin or sysadmin'; echo \"{MARK} exit 1\"\n"
                ));
            }
        }
    }
    (view, s)
}

/// Addresses, routes, listeners, resolv.conf and a DNS lookup, each command prefixed by `ns`
/// (an nsenter into the network namespace to look at, or nothing).
fn network_body(ns: &str, resolv: &str) -> String {
    format!(
        r#"dp_run addresses {ns} ip -o addr show
dp_run routes {ns} ip route show
dp_run listening {ns} ss -ltnup
dp_run resolv.conf cat {resolv}
DP_NS=$(awk '/^nameserver/ {{print $2; exit}}' {resolv} 2>/dev/null)
dp_run dns {ns} timeout 6 nslookup {svc} $DP_NS
"#,
        svc = CLUSTER_SERVICE,
    )
}

/// A TCP connect (and HTTP status) to each declared port of the target's IP.
fn connectivity(target: &Target) -> String {
    let ports = target
        .ports()
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        r#"dp_sh connectivity 'for port in {ports}; do out=$(curl -sk -o /dev/null -m 3 -w "%{{time_connect}} %{{http_code}}" "http://"{ip}":$port/" 2>/dev/null); rc=$?; set -- $out; if [ -n "$1" ] && [ "$1" != "0.000000" ] && [ "$1" != "0" ]; then echo "$port open connect=${{1}}s http=$2"; else echo "$port closed curl_exit=$rc"; fi; done'
"#,
        ip = quote(&target.ip),
    )
}

/// The status, limits, memory and open files of process `$TPID`.
const PROCESS_DETAILS: &str = r#"dp_run status grep -E '^(Name|State|Pid|PPid|Uid|Gid|Threads|NSpid|voluntary_ctxt_switches|nonvoluntary_ctxt_switches):' /proc/$TPID/status
dp_run limits cat /proc/$TPID/limits
dp_run memory grep -E '^(VmPeak|VmSize|VmHWM|VmRSS|RssAnon|RssFile|VmSwap):' /proc/$TPID/status
dp_sh open-files 'echo "$(ls /proc/$TPID/fd | wc -l) open files (pid $TPID); limit $(awk "/Max open files/ {print \$4}" /proc/$TPID/limits)"'
"#;

/// Every process visible here: pid, state, command line.
/// (The preset's own shells, whose command line is this script, are left out.)
const ALL_PROCESSES: &str = r#"dp_sh processes 'for p in $(ls /proc | grep -E "^[0-9]+$" | sort -n); do c=$(tr "\0" " " 2>/dev/null < /proc/$p/cmdline) || continue; case "$c" in *dp_run*) continue;; esac; printf "%s %s %s\n" "$p" "$(awk "/^State:/ {print \$2}" /proc/$p/status 2>/dev/null)" "$c"; done'
"#;

/// The script for `preset` run inside a copy of the target (a copy session): the copy's own
/// network namespace, its own processes (PID 1 is the replaced container's command). Uses the
/// tools of the copied image.
pub fn script_inside(preset: Preset, target: &Target) -> (View, String) {
    let mut s = String::from("export LC_ALL=C\n");
    s.push_str(HELPERS);
    match preset {
        Preset::Network => {
            s.push_str(&network_body("", "/etc/resolv.conf"));
            s.push_str(&connectivity(target));
        }
        Preset::System => {
            s.push_str(ALL_PROCESSES);
            s.push_str("TPID=1\n");
            s.push_str(PROCESS_DETAILS);
        }
    }
    (View::Copy, s)
}

/// The script for `preset` on a node (a node session). The node pod shares the host's network,
/// PID, IPC and UTS namespaces (hostNetwork, hostPID, hostIPC), so the debug image's tools see
/// the host's interfaces, sockets and processes directly; the host's files are read at `/host`.
/// network: addresses, routes, listeners, the node's resolv.conf and a DNS lookup; system:
/// kernel, OS, the host's PID 1, load, memory, disk, every process of the node.
pub fn script_host(preset: Preset) -> (View, String) {
    let mut s = String::from("export LC_ALL=C\n");
    s.push_str(HELPERS);
    match preset {
        Preset::Network => {
            s.push_str(&network_body("", "/host/etc/resolv.conf"));
        }
        Preset::System => {
            s.push_str(
                r#"dp_run kernel uname -a
dp_run os-release cat /host/etc/os-release
dp_sh init 'echo "pid 1: $(tr "\0" " " < /proc/1/cmdline)"'
dp_sh load 'echo "uptime $(cut -d" " -f1 /proc/uptime)s, load $(cat /proc/loadavg)"'
dp_run memory grep -E '^(MemTotal|MemFree|MemAvailable|SwapTotal|SwapFree):' /proc/meminfo
dp_run disk df -h /host
dp_sh processes 'ps -eo pid,ppid,user,stat,args 2>/dev/null | grep -v dp_run || for p in $(ls /proc | grep -E "^[0-9]+$" | sort -n); do c=$(tr "\0" " " 2>/dev/null < /proc/$p/cmdline) || continue; case "$c" in *dp_run*) continue;; esac; printf "%s %s\n" "$p" "$c"; done'
"#,
            );
        }
    }
    (View::Host, s)
}

/// Parses the marker-delimited output into sections.
pub fn parse(output: &str) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut current: Option<(String, String, String)> = None;
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix(MARK) {
            let rest = rest.trim_start();
            if let Some(head) = rest.strip_prefix("section ") {
                let (name, command) = head.split_once(' ').unwrap_or((head, ""));
                current = Some((name.to_string(), command.trim().to_string(), String::new()));
            } else if let Some(code) = rest.strip_prefix("exit ")
                && let Some((name, command, out)) = current.take()
            {
                sections.push(Section {
                    name,
                    command,
                    exit_code: code.trim().parse().unwrap_or(-1),
                    output: out.trim_end().to_string(),
                });
            }
            continue;
        }
        if let Some((_, _, out)) = current.as_mut() {
            out.push_str(line);
            out.push('\n');
        }
    }
    sections
}

/// A preset's result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresetResult {
    /// Which preset.
    pub preset: Preset,
    /// Target pod.
    pub target: String,
    /// Target IP.
    pub target_ip: String,
    /// The debug pod the commands ran in.
    pub session_pod: String,
    /// Where they ran.
    pub view: View,
    /// Notes for the reader (e.g. no cluster DNS).
    pub notes: Vec<String>,
    /// The sections.
    pub sections: Vec<Section>,
}

impl PresetResult {
    /// The section with this name.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Adds interpretation notes (honest about what could not be checked).
    pub fn annotate(&mut self, profile: Profile) {
        match self.view {
            View::DebugPod => self.notes.push(format!(
                "ran in the debug pod's own namespaces: the {profile} profile {}",
                profile.limitation()
            )),
            View::Copy => self.notes.push(
                "ran inside the copy, with the copied image's tools: its replaced container's command is not the app's (start the app by hand: eval \"$DEBUGPOD_ENTRYPOINT\")".into(),
            ),
            View::Target | View::Host => {}
        }
        if let Some(dns) = self.section("dns") {
            let resolved =
                dns.exit_code == 0 && dns.output.lines().skip(2).any(|l| l.contains("Address"));
            if !resolved {
                self.notes.push(format!(
                    "cluster DNS did not resolve {CLUSTER_SERVICE}: Service names will not resolve from this pod (no cluster DNS answered via the nameserver in resolv.conf)"
                ));
            }
        }
        if let Some(c) = self.section("connectivity") {
            let closed: Vec<&str> = c.output.lines().filter(|l| l.contains(" closed")).collect();
            if !closed.is_empty() {
                self.notes.push(format!(
                    "ports not reachable from the debug pod: {}",
                    closed.join("; ")
                ));
            }
        }
    }

    /// Human-readable rendering: one block per section.
    pub fn render(&self) -> String {
        let mut out = format!(
            "# {} preset for pod {} ({}), via {} [{}]\n",
            match self.preset {
                Preset::Network => "network",
                Preset::System => "system",
            },
            self.target,
            self.target_ip,
            self.session_pod,
            match self.view {
                View::Target => "target's namespaces",
                View::DebugPod => "debug pod's namespaces",
                View::Copy => "the copy's namespaces",
                View::Host => "the node's namespaces",
            }
        );
        for s in &self.sections {
            let status = if s.exit_code == 0 {
                String::new()
            } else {
                format!("  [exit {}]", s.exit_code)
            };
            out.push_str(&format!(
                "\n== {} ==  $ {}{status}\n{}\n",
                s.name, s.command, s.output
            ));
        }
        for n in &self.notes {
            out.push_str(&format!("\nnote: {n}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::from_pod(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "t", "namespace": "n", "uid": "u"},
                "spec": {"containers": [{"name": "app", "ports": [{"containerPort": 8080}, {"containerPort": 8443}]}]},
                "status": {"podIP": "10.0.0.9"}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn parses_sections_with_exit_codes() {
        let out = "noise\n@@debugpod@@ section addresses ip -o addr show\n1: lo inet 127.0.0.1/8\n\n@@debugpod@@ exit 0\n@@debugpod@@ section dns nslookup x\nfail\n\n@@debugpod@@ exit 1\n";
        let s = parse(out);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "addresses");
        assert_eq!(s[0].command, "ip -o addr show");
        assert_eq!(s[0].output, "1: lo inet 127.0.0.1/8");
        assert_eq!((s[1].name.as_str(), s[1].exit_code), ("dns", 1));
    }

    #[test]
    fn network_script_enters_the_netns_only_when_allowed() {
        let (view, s) = script(Preset::Network, &target(), Profile::Netadmin, None);
        assert_eq!(view, View::Target);
        assert!(s.contains("nsenter -t $TPID -n ip -o addr show"));
        assert!(s.contains("for port in 8080 8443"));
        let (view, s) = script(Preset::Network, &target(), Profile::Baseline, None);
        assert_eq!(view, View::DebugPod);
        assert!(!s.contains("nsenter"));
    }

    #[test]
    fn scripts_are_valid_sh() {
        for preset in [Preset::Network, Preset::System] {
            for profile in [Profile::Baseline, Profile::Netadmin] {
                let (_, s) = script(preset, &target(), profile, None);
                let ok = std::process::Command::new("sh")
                    .arg("-n")
                    .arg("-c")
                    .arg(&s)
                    .status()
                    .unwrap();
                assert!(ok.success(), "{preset:?} {profile}:\n{s}");
            }
        }
    }

    #[test]
    fn copy_and_node_scripts_are_valid_sh_and_look_in_the_right_place() {
        for preset in [Preset::Network, Preset::System] {
            for (view, s) in [script_inside(preset, &target()), script_host(preset)] {
                let ok = std::process::Command::new("sh")
                    .arg("-n")
                    .arg("-c")
                    .arg(&s)
                    .status()
                    .unwrap();
                assert!(ok.success(), "{preset:?} {view:?}:\n{s}");
                assert!(!s.contains("$TPID -n"), "never nsenter into a target PID");
            }
        }
        let (view, s) = script_inside(Preset::Network, &target());
        assert_eq!(view, View::Copy);
        assert!(
            s.contains("dp_run addresses  ip -o addr show") && s.contains("for port in 8080 8443")
        );
        let (view, s) = script_host(Preset::Network);
        assert_eq!(view, View::Host);
        assert!(s.contains("dp_run listening  ss -ltnup"), "{s}");
        assert!(s.contains("cat /host/etc/resolv.conf"));
        let (_, s) = script_host(Preset::System);
        assert!(s.contains("dp_sh init") && s.contains("ps -eo"), "{s}");
    }

    #[test]
    fn notes_are_honest_about_dns() {
        let mut r = PresetResult {
            preset: Preset::Network,
            target: "t".into(),
            target_ip: "10.0.0.9".into(),
            session_pod: "d".into(),
            view: View::Target,
            notes: vec![],
            sections: parse(
                "@@debugpod@@ section dns nslookup\n;; connection timed out\n@@debugpod@@ exit 1\n",
            ),
        };
        r.annotate(Profile::Netadmin);
        assert!(
            r.notes[0].contains("cluster DNS did not resolve"),
            "{:?}",
            r.notes
        );
    }
}
