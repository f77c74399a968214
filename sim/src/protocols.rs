//! Which streaming protocols the API server offers for exec, and so which Kubernetes
//! release the simulator plays. WebSocket `v5.channel.k8s.io`, the first that lets a
//! client close stdin alone, came with KEP-4006 (beta, on by default, in 1.30); a server
//! before that offers `v4.channel.k8s.io` at most, and kubectl of those releases uses SPDY.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExecProtocols {
    /// A 1.30+ server: WebSocket v5 and v4, SPDY.
    #[default]
    V5V4,
    /// A 1.29 server: WebSocket v4 only, SPDY.
    V4,
}

impl ExecProtocols {
    /// `v5,v4` (in either order) or `v4`.
    pub fn parse(text: &str) -> Result<ExecProtocols, String> {
        let mut set: Vec<&str> = text.split(',').map(str::trim).collect();
        set.sort_unstable();
        set.dedup();
        match set.as_slice() {
            ["v4", "v5"] => Ok(ExecProtocols::V5V4),
            ["v4"] => Ok(ExecProtocols::V4),
            _ => Err(format!(
                "exec protocols `{text}`: expected `v5,v4` (Kubernetes 1.30 and later) or `v4` (before 1.30)"
            )),
        }
    }

    /// WebSocket subprotocols, in the server's order of preference.
    pub fn websocket(self) -> &'static [&'static str] {
        match self {
            ExecProtocols::V5V4 => &["v5.channel.k8s.io", "v4.channel.k8s.io"],
            ExecProtocols::V4 => &["v4.channel.k8s.io"],
        }
    }

    /// `X-Stream-Protocol-Version`s accepted over SPDY. Over SPDY v5 is v4 (client-go
    /// tools/remotecommand/v5.go); only 1.30+ servers know its name.
    pub fn spdy(self) -> &'static [&'static str] {
        match self {
            ExecProtocols::V5V4 => &["v5.channel.k8s.io", "v4.channel.k8s.io"],
            ExecProtocols::V4 => &["v4.channel.k8s.io"],
        }
    }

    /// The Kubernetes minor version `/version` reports.
    pub fn kubernetes_minor(self) -> u32 {
        match self {
            ExecProtocols::V5V4 => 32,
            ExecProtocols::V4 => 29,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_two_sets() {
        assert_eq!(ExecProtocols::parse("v5,v4"), Ok(ExecProtocols::V5V4));
        assert_eq!(ExecProtocols::parse("v4, v5"), Ok(ExecProtocols::V5V4));
        assert_eq!(ExecProtocols::parse("v4"), Ok(ExecProtocols::V4));
        assert!(ExecProtocols::parse("v5").is_err());
        assert!(ExecProtocols::parse("v3").is_err());
    }
}
