//! Debug profiles: what each one grants, and nothing more.
//!
//! The names follow `kubectl debug --profile` (kubectl 1.30+), applied to a *separate* pod
//! pinned to the target's node. Only `netadmin` and `sysadmin` can enter the target's network
//! namespace (they need `hostPID` to find it and `CAP_SYS_ADMIN` for `setns`); only `sysadmin`
//! is privileged.

use clap::ValueEnum;
use k8s_openapi::api::core::v1::{Capabilities, SeccompProfile, SecurityContext};
use serde::Serialize;

/// A debug profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// PodSecurity `restricted`: non-root (65534), drop ALL, no privilege escalation, seccomp RuntimeDefault.
    Restricted,
    /// PodSecurity `baseline`: the runtime's default security context, no host namespaces.
    Baseline,
    /// `baseline` plus SYS_PTRACE (kubectl's `general`): strace/gdb of the debug pod's own processes.
    General,
    /// hostPID + NET_ADMIN, NET_RAW, SYS_PTRACE, SYS_ADMIN: enters the target's network namespace (presets, tcpdump).
    Netadmin,
    /// privileged + hostPID/hostNetwork/hostIPC + the node's `/` at `/host`: everything.
    Sysadmin,
}

impl Profile {
    /// Every profile, least privilege first.
    pub const ALL: [Profile; 5] = [
        Profile::Restricted,
        Profile::Baseline,
        Profile::General,
        Profile::Netadmin,
        Profile::Sysadmin,
    ];

    /// The profile's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Restricted => "restricted",
            Profile::Baseline => "baseline",
            Profile::General => "general",
            Profile::Netadmin => "netadmin",
            Profile::Sysadmin => "sysadmin",
        }
    }

    /// Parses a profile name (as stored in a session annotation).
    pub fn parse(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == name)
    }

    /// True when the debug pod shares the node's PID namespace (and can find the target's processes).
    pub fn host_pid(self) -> bool {
        matches!(self, Profile::Netadmin | Profile::Sysadmin)
    }

    /// True when the debug pod uses the node's network namespace.
    pub fn host_network(self) -> bool {
        self == Profile::Sysadmin
    }

    /// True when the debug pod shares the node's IPC namespace.
    pub fn host_ipc(self) -> bool {
        self == Profile::Sysadmin
    }

    /// True when the node's root filesystem is mounted at `/host`.
    pub fn host_root_mount(self) -> bool {
        self == Profile::Sysadmin
    }

    /// True when the profile can enter the target's network namespace (`nsenter -t PID -n`).
    pub fn can_enter_netns(self) -> bool {
        self.host_pid()
    }

    /// The PodSecurity level a pod with this profile needs (`restricted`, `baseline`, `privileged`).
    pub fn pod_security_level(self) -> &'static str {
        match self {
            Profile::Restricted => "restricted",
            Profile::Baseline => "baseline",
            Profile::General | Profile::Netadmin | Profile::Sysadmin => "privileged",
        }
    }

    /// What the profile can not do, for messages (empty when it can do everything).
    pub fn limitation(self) -> &'static str {
        match self {
            Profile::Restricted | Profile::Baseline | Profile::General => {
                "cannot enter the target's network namespace or see its processes (needs netadmin or sysadmin)"
            }
            Profile::Netadmin => "not privileged: no node filesystem, no host network",
            Profile::Sysadmin => "",
        }
    }

    /// The debug container's security context for this profile.
    pub fn security_context(self) -> Option<SecurityContext> {
        let caps = |add: &[&str]| Capabilities {
            add: Some(add.iter().map(|c| c.to_string()).collect()),
            drop: None,
        };
        match self {
            Profile::Baseline => None,
            Profile::Restricted => Some(SecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(65534),
                run_as_group: Some(65534),
                allow_privilege_escalation: Some(false),
                capabilities: Some(Capabilities {
                    add: None,
                    drop: Some(vec!["ALL".into()]),
                }),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    localhost_profile: None,
                }),
                ..Default::default()
            }),
            Profile::General => Some(SecurityContext {
                capabilities: Some(caps(&["SYS_PTRACE"])),
                ..Default::default()
            }),
            Profile::Netadmin => Some(SecurityContext {
                capabilities: Some(caps(&["NET_ADMIN", "NET_RAW", "SYS_PTRACE", "SYS_ADMIN"])),
                ..Default::default()
            }),
            Profile::Sysadmin => Some(SecurityContext {
                privileged: Some(true),
                ..Default::default()
            }),
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sysadmin_is_privileged() {
        for p in Profile::ALL {
            let privileged = p
                .security_context()
                .and_then(|s| s.privileged)
                .unwrap_or(false);
            assert_eq!(privileged, p == Profile::Sysadmin, "{p}");
        }
    }

    #[test]
    fn restricted_matches_pod_security_restricted() {
        let sc = Profile::Restricted.security_context().unwrap();
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.capabilities.unwrap().drop.unwrap(), ["ALL"]);
        assert_eq!(sc.seccomp_profile.unwrap().type_, "RuntimeDefault");
        assert!(!Profile::Restricted.host_pid());
    }

    #[test]
    fn netadmin_gets_exactly_the_capabilities_for_setns_and_capture() {
        let sc = Profile::Netadmin.security_context().unwrap();
        assert_eq!(
            sc.capabilities.unwrap().add.unwrap(),
            ["NET_ADMIN", "NET_RAW", "SYS_PTRACE", "SYS_ADMIN"]
        );
        assert_eq!(sc.privileged, None);
        assert!(
            Profile::Netadmin.host_pid()
                && !Profile::Netadmin.host_network()
                && !Profile::Netadmin.host_root_mount()
        );
    }

    #[test]
    fn names_round_trip() {
        for p in Profile::ALL {
            assert_eq!(Profile::parse(p.name()), Some(p));
        }
        assert_eq!(Profile::parse("legacy"), None);
    }
}
