//! `sim serve --exec-protocols v4`: a server from before Kubernetes 1.30, which offers
//! WebSocket `v4.channel.k8s.io` only. A WebSocket client then cannot close stdin alone
//! (v5's CLOSE means nothing), while kubectl of that release speaks SPDY and can.

mod common;
#[path = "common/ws.rs"]
mod ws;

use std::sync::OnceLock;
use std::time::Duration;

use common::Sim;

fn v4_sim() -> &'static Sim {
    static SIM: OnceLock<Sim> = OnceLock::new();
    SIM.get_or_init(|| {
        let sim = Sim::start_with(&["--exec-protocols", "v4"]);
        common::stop_at_exit(&SIM);
        sim
    })
}

#[tokio::test]
async fn a_v4_server_negotiates_v4_refuses_v5_only_and_says_it_is_1_29() {
    let sim = v4_sim();
    let pod = sim.pod("system-redis");
    let path = ws::exec_path(&pod, None, &["true"], false);
    let exec = ws::open(&sim.dir, &path, "v5.channel.k8s.io, v4.channel.k8s.io")
        .await
        .unwrap();
    assert_eq!(exec.protocol.as_deref(), Some("v4.channel.k8s.io"));
    exec.close().await;
    // kubectl 1.30+ offers v5 alone: the handshake is refused as golang.org/x/net/websocket
    // refuses it, and kubectl falls back to SPDY.
    let refused = ws::open(&sim.dir, &path, "v5.channel.k8s.io").await;
    assert_eq!(refused.err().map(|(code, _)| code), Some(403));
    let version: serde_json::Value =
        serde_json::from_str(&sim.ok(&["get", "--raw", "/version"])).unwrap();
    assert_eq!(version["minor"], "29", "{version}");
}

#[tokio::test]
async fn over_v4_closing_stdin_does_not_end_cat_until_the_connection_ends() {
    let sim = v4_sim();
    let pod = sim.pod("system-redis");
    let path = ws::exec_path(&pod, None, &["cat"], true);
    let mut exec = ws::open(&sim.dir, &path, "v5.channel.k8s.io,v4.channel.k8s.io")
        .await
        .unwrap();
    exec.stdin(b"first line\n").await;
    exec.close_stdin().await;
    let got = exec.receive(Duration::from_secs(2)).await;
    assert_eq!(got.stdout, b"first line\n");
    assert!(
        got.status.is_none() && !got.closed,
        "cat must still be running with its stdin open: {got:?}"
    );
    // Only the end of the connection ends cat's input.
    exec.close().await;
    let mut left = String::new();
    for _ in 0..50 {
        left = sim.ok(&["exec", &pod, "--", "sh", "-c", "pgrep -x cat || true"]);
        if left.trim().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        left.trim().is_empty(),
        "cat outlived its connection: {left}"
    );
}

#[tokio::test]
async fn over_v4_text_frames_are_stdin_too() {
    let sim = v4_sim();
    let pod = sim.pod("system-redis");
    let path = ws::exec_path(&pod, None, &["head", "-n", "1"], true);
    let mut exec = ws::open(&sim.dir, &path, "v4.channel.k8s.io")
        .await
        .unwrap();
    exec.stdin_text("sent as text\n").await;
    let got = exec.receive(Duration::from_secs(10)).await;
    assert_eq!(String::from_utf8_lossy(&got.stdout), "sent as text\n");
    assert_eq!(got.status.unwrap()["status"], "Success");
}

/// `/usr/bin/kubectl` (a version dispatcher) runs the kubectl of the server's minor; that
/// one, or kubectl 1.30+ after its WebSocket attempt is refused, execs over SPDY, where
/// the end of stdin does reach the command.
#[test]
fn kubectl_still_execs_and_copies_over_spdy() {
    let sim = v4_sim();
    let pod = sim.pod("system-mysql");
    let out = sim.kubectl_stdin(
        &["exec", "-i", &pod, "--", "bash", "-c", "tr a-z A-Z; exit 5"],
        b"to upper\n",
    );
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "TO UPPER\n");

    let app = sim.pod("system-app");
    let local = tempfile::tempdir().unwrap();
    let file = local.path().join("spdy.txt");
    std::fs::write(&file, "over spdy").unwrap();
    sim.ok(&[
        "cp",
        file.to_str().unwrap(),
        &format!("{app}:/opt/system/public/system/spdy.txt"),
    ]);
    let back = local.path().join("back.txt");
    sim.ok(&[
        "cp",
        &format!("{app}:/opt/system/public/system/spdy.txt"),
        back.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(back).unwrap(), "over spdy");
}
