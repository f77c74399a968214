//! Each attack returns the host's answer as its own error (`?`), so the test sees what the
//! host said; an attack that gets through returns Ok, and the test fails on exit code 0.

use guest_sdk::prelude::*;

struct Hostile;

impl Plugin for Hostile {
    fn restore() -> Result<()> {
        let attack = store::read_to_string("attack")?;
        let mut words = attack.split_whitespace();
        let what = words.next().unwrap_or("");
        let arg = words.next().unwrap_or("");
        match what {
            // Run a command in a pod outside the grant, by name.
            "exec-outside" => {
                pods::exec(arg, &["sh", "-c", "echo pwned > /tmp/pwned"], None)?;
            }
            // Look for a pod outside the grant.
            "find-outside" => {
                pods::find_pod(arg)?;
            }
            "read-secret" => {
                objects::get("v1", "Secret", arg)?;
            }
            // Read through a path that leaves the backup set.
            "open" => {
                store::read_bytes(arg)?;
            }
            "create" => {
                store::write(arg, b"pwned")?;
            }
            // Send a tree artifact (a symlink planted in the set) into the pod.
            "copy-tree" => {
                let pod = pods::find_pod("deployment=zync-database")?;
                pods::copy_to_pod("files", &pod, "/tmp/stolen")?;
            }
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "membomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("hostile plugin panicked on purpose"),
            "logflood" => {
                for i in 0u64.. {
                    info!("flood line {i} {}", "x".repeat(200));
                }
            }
            other => return Err(Error::invalid(format!("unknown attack `{other}`"))),
        }
        Ok(())
    }
}

guest_sdk::export_plugin!(Hostile);
