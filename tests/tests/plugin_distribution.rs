//! Plugin sets shipped through a real OCI registry (Debian's docker-registry, started
//! here on 127.0.0.1 with a storage directory of its own) and signed with `host plugin
//! sign`: push, pull by tag and by digest, a tampered layer refused, and unsigned or
//! wrongly signed plugins refused by `--require-signed` before anything runs.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Run, Sim, host_bin, output_within, plugin_bytes, plugin_set, shared};

/// `docker-registry serve` on a free loopback port, one per test binary.
struct Registry {
    /// `127.0.0.1:PORT`
    addr: String,
    storage: PathBuf,
    child: std::sync::Mutex<Child>,
    _dir: tempfile::TempDir,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

fn registry() -> &'static Registry {
    REGISTRY.get_or_init(|| {
        let bin = Path::new("/usr/bin/docker-registry");
        assert!(
            bin.exists(),
            "{} is missing: ./scripts/setup installs Debian's docker-registry",
            bin.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("registry-test-")
            .tempdir()
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let storage = dir.path().join("storage");
        let config = dir.path().join("config.yml");
        // No blob descriptor cache: a blob changed on disk is served as it is now, as a
        // registry whose storage was tampered with would serve it.
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                storage.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = common::lifetime::spawn_for_process(cmd).expect("docker-registry starts");
        let started = Instant::now();
        while !answers(&addr) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "docker-registry did not answer on {addr}: {}",
                std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        extern "C" fn stop_registry() {
            if let Some(r) = REGISTRY.get() {
                let mut child = r.child.lock().unwrap();
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        unsafe {
            libc::atexit(stop_registry);
        }
        Registry {
            addr,
            storage,
            child: std::sync::Mutex::new(child),
            _dir: dir,
        }
    })
}

/// `GET /v2/` answers 200: the registry is up.
fn answers(addr: &str) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /v2/ HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}

impl Registry {
    fn reference(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.addr)
    }

    /// The file holding a blob in the registry's storage (its layout: docker/registry/
    /// v2/blobs/sha256/AB/ABCD.../data).
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

/// What the tests' own files live in: keys, plugin copies, plugin paths.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `host ARGS` with no cluster at all (a KUBECONFIG that does not exist): whatever
    /// is refused before a connection says so by its exit code and message.
    fn host(&self, args: &[&str]) -> Run {
        self.host_env(args, &[])
    }

    fn host_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(host_bin());
        cmd.args(args)
            .env("KUBECONFIG", self.path("no-cluster/kubeconfig"))
            .env("HOST_CACHE_DIR", self.path("cache"))
            .env("XDG_STATE_HOME", self.path("state"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env_remove("HOST_REQUIRE_SIGNED");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = output_within(cmd, &format!("host {args:?}"), None);
        let run = Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        eprintln!("host {args:?} -> {:?}\n{}", run.code, run.all());
        run
    }

    fn host_ok(&self, args: &[&str]) -> Run {
        let run = self.host(args);
        assert_eq!(run.code, Some(0), "host {args:?} failed:\n{}", run.all());
        run
    }

    /// A key pair made by `host key new`; returns (private, public).
    fn key(&self, name: &str) -> (String, String) {
        std::fs::create_dir_all(self.path("keys")).unwrap();
        let private = self.path("keys").join(name);
        self.host_ok(&["key", "new", "--out", private.to_str().unwrap()]);
        let public = format!("{}.pub", private.display());
        (private.to_str().unwrap().to_string(), public)
    }

    /// A copy of the built 2.15 set (its *.wasm only) in `rel/3scale-2.15`.
    fn set_copy(&self, rel: &str) -> PathBuf {
        let dir = self.path(rel).join("3scale-2.15");
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(plugin_set("2.15")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "wasm") {
                std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
            }
        }
        dir
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(bytes)?;
            c.wait_with_output()
        })
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", text.split_whitespace().next().unwrap())
}

/// The `REPO@sha256:...` a push printed for pulling.
fn pinned(push: &Run) -> String {
    push.stdout
        .lines()
        .find_map(|l| l.strip_prefix("pull it pinned: host plugin pull "))
        .unwrap_or_else(|| panic!("no pinned reference in:\n{}", push.all()))
        .trim()
        .to_string()
}

/// Every *.wasm and *.sig of `dir`, by name, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A vendor signs and pushes the 2.15 set; an operator pulls it by tag and by digest into
/// empty plugin paths and gets the same files, signatures included; `inspect` shows each
/// file's digest and that its signature checks.
#[test]
fn a_signed_set_pulls_by_tag_and_by_digest_as_it_was_pushed() {
    let reg = registry();
    let scratch = Scratch::new();
    let (private, public) = scratch.key("vendor");
    let set = scratch.set_copy("vendor");
    let plugins = std::fs::read_dir(&set).unwrap().count();
    assert!(plugins > 5, "the 2.15 set has {plugins} plugins");
    let sign = scratch.host_ok(&["plugin", "sign", "--key", &private, s(&set)]);
    assert_eq!(sign.stdout.lines().count(), plugins, "{}", sign.stdout);
    let reference = reg.reference("vendor/threescale:2.15");
    let push = scratch.host_ok(&["plugin", "push", &reference, s(&set)]);
    assert_eq!(
        push.stdout.matches("with its signature").count(),
        plugins,
        "{}",
        push.stdout
    );
    let pinned = pinned(&push);
    assert!(
        pinned.starts_with(&format!("{}/vendor/threescale@sha256:", reg.addr)),
        "{pinned}"
    );

    // By tag: the digest it resolved is printed, and it is the one the push printed.
    let by_tag = scratch.path("operator-a");
    let pull = scratch.host_ok(&["plugin", "pull", &reference, "--to", s(&by_tag)]);
    assert!(
        pull.stdout
            .contains(&format!("{reference} resolved to {pinned}")),
        "{}",
        pull.stdout
    );
    assert_eq!(files(&by_tag.join("3scale-2.15")), files(&set));
    let leftovers: Vec<_> = std::fs::read_dir(&by_tag)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        ["3scale-2.15"],
        "only the set is left in the plugin path"
    );

    // By digest, requiring the vendor's signature.
    let by_digest = scratch.path("operator-b");
    let pull = scratch.host_ok(&[
        "plugin",
        "pull",
        &pinned,
        "--to",
        s(&by_digest),
        "--require-signed",
        &public,
    ]);
    assert!(!pull.stdout.contains("resolved to"), "{}", pull.stdout);
    assert_eq!(pull.stdout.matches("signature checks").count(), plugins);
    let zync = by_digest.join("3scale-2.15/zync.wasm");
    assert_eq!(files(&by_digest.join("3scale-2.15")), files(&set));

    let inspect = scratch.host_ok(&["inspect", s(&zync), "--key", &public]);
    let digest = sha256(&std::fs::read(&zync).unwrap());
    assert!(
        inspect
            .stdout
            .contains(&format!("digest:          {digest}")),
        "{}",
        inspect.stdout
    );
    assert!(
        inspect
            .stdout
            .contains("signature:       checks: signed by SHA256:"),
        "{}",
        inspect.stdout
    );
    let unchecked = scratch.host_ok(&["inspect", s(&zync)]);
    assert!(
        unchecked
            .stdout
            .contains("(not checked: give --key PUBFILE)"),
        "{}",
        unchecked.stdout
    );
    scratch.host_ok(&[
        "plugin",
        "verify",
        "--key",
        &public,
        s(&by_digest.join("3scale-2.15")),
    ]);

    // A second pull of the same set over the first replaces it whole.
    std::fs::write(by_digest.join("3scale-2.15/stray.wasm"), b"stray").unwrap();
    scratch.host_ok(&["plugin", "pull", &pinned, "--to", s(&by_digest)]);
    assert!(!by_digest.join("3scale-2.15/stray.wasm").exists());
}

/// One plugin pushed alone is pulled into the set its manifest names.
#[test]
fn a_single_plugin_goes_to_its_set() {
    let reg = registry();
    let scratch = Scratch::new();
    let zync = plugin_set("2.15").join("zync.wasm");
    let reference = reg.reference("vendor/zync:0.3.1");
    let push = scratch.host_ok(&["plugin", "push", &reference, s(&zync)]);
    assert!(push.stdout.contains("zync.wasm"), "{}", push.stdout);
    assert!(push.stdout.contains(", unsigned"), "{}", push.stdout);
    let to = scratch.path("plugins");
    scratch.host_ok(&["plugin", "pull", &pinned(&push), "--to", s(&to)]);
    assert_eq!(
        std::fs::read(to.join("3scale-2.15/zync.wasm")).unwrap(),
        std::fs::read(&zync).unwrap()
    );
    // Unsigned, it cannot be pulled by someone who requires a signature.
    let (_, public) = scratch.key("k");
    let refused = scratch.host(&[
        "plugin",
        "pull",
        &pinned(&push),
        "--to",
        s(&scratch.path("strict")),
        "--require-signed",
        &public,
    ]);
    assert_eq!(refused.code, Some(3), "{}", refused.all());
    assert!(refused.stderr.contains("zync.wasm"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("is not signed"),
        "{}",
        refused.stderr
    );
    assert!(!scratch.path("strict/3scale-2.15").exists());
}

/// A plugin's layer changed in the registry's storage after the push: the pull refuses
/// it, names it, and leaves the plugin path as it was.
#[test]
fn a_tampered_layer_is_refused_and_nothing_is_written() {
    let reg = registry();
    let scratch = Scratch::new();
    // Bytes no other test pushes: the registry stores blobs once for all repositories.
    let set = scratch.path("vendor/3scale-2.15");
    std::fs::create_dir_all(&set).unwrap();
    let nonce = format!("{:?}", Instant::now());
    let zync = plugin_bytes::with_section(
        &plugin_set("2.15").join("zync.wasm"),
        "tamper-test",
        nonce.as_bytes(),
        &set.join("zync.wasm"),
    );
    std::fs::copy(
        plugin_set("2.15").join("redis.wasm"),
        set.join("redis.wasm"),
    )
    .unwrap();
    let reference = reg.reference("vendor/tampered:2.15");
    let push = scratch.host_ok(&["plugin", "push", &reference, s(&set)]);
    let bytes = std::fs::read(&zync).unwrap();
    let blob = reg.blob_file(&sha256(&bytes));
    let mut stored = std::fs::read(&blob).unwrap();
    assert_eq!(stored, bytes, "the registry stores the layer as pushed");
    let middle = stored.len() / 2;
    stored[middle] ^= 0x01;
    std::fs::write(&blob, &stored).unwrap();

    // An operator's plugin path with a set already in place.
    let to = scratch.path("operator");
    let before = scratch.set_copy("operator");
    let kept = files(&before);
    for reference in [reference, pinned(&push)] {
        let pull = scratch.host(&["plugin", "pull", &reference, "--to", s(&to)]);
        assert_eq!(pull.code, Some(3), "{}", pull.all());
        assert!(
            pull.stderr.contains("plugin zync.wasm")
                && pull.stderr.contains("does not match its digest")
                && pull.stderr.contains("nothing was written"),
            "{}",
            pull.stderr
        );
        assert_eq!(files(&before), kept, "the set in place is untouched");
        let entries: Vec<_> = std::fs::read_dir(&to)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, ["3scale-2.15"], "no staging directory is left");
    }
}

/// `--require-signed` refuses an unsigned plugin, one signed by another key, and one
/// changed after signing, before anything runs: exit 3, the plugin named, no backup set
/// made and no cluster reached (there is none to reach).
#[test]
fn unsigned_or_wrongly_signed_plugins_are_refused_before_anything_runs() {
    let scratch = Scratch::new();
    let (vendor, vendor_pub) = scratch.key("vendor");
    let (other, _) = scratch.key("other");
    let dir = scratch.path("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let unsigned = dir.join("zync.wasm");
    std::fs::copy(plugin_set("2.15").join("zync.wasm"), &unsigned).unwrap();
    let set_dir = scratch.path("set");

    let refused = |args: &[&str], plugin: &Path, why: &str| {
        let run = scratch.host(args);
        assert_eq!(run.code, Some(3), "{}", run.all());
        assert!(
            run.stderr.contains(&format!("plugin {}", plugin.display()))
                && run.stderr.contains(why),
            "expected `{why}` about {}:\n{}",
            plugin.display(),
            run.stderr
        );
        assert!(
            !run.all().contains("kubeconfig"),
            "no cluster was reached for:\n{}",
            run.all()
        );
        assert!(!set_dir.exists(), "no backup set was made");
    };
    let backup = |plugin: &Path| {
        vec![
            "run".to_string(),
            "backup".into(),
            "--plugin".into(),
            s(plugin).into(),
            "--backup-dir".into(),
            s(&set_dir).into(),
            "--require-signed".into(),
            vendor_pub.clone(),
        ]
    };
    let args = backup(&unsigned);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refused(&args, &unsigned, "it is not signed (no zync.wasm.sig)");
    // The same through the environment, and for a whole set.
    let run = scratch.host_env(
        &["backup", "--plugins", s(&dir), "--backup-dir", s(&set_dir)],
        &[("HOST_REQUIRE_SIGNED", &vendor_pub)],
    );
    assert_eq!(run.code, Some(3), "{}", run.all());
    assert!(run.stderr.contains("is not signed"), "{}", run.stderr);
    refused(
        &[
            "restore",
            "--plugins",
            s(&dir),
            "--backup-dir",
            s(&set_dir),
            "--require-signed",
            &vendor_pub,
        ],
        &unsigned,
        "is not signed",
    );

    // Signed by a key the operator does not trust.
    scratch.host_ok(&["plugin", "sign", "--key", &other, s(&unsigned)]);
    refused(&args, &unsigned, "not by a key you gave");
    let verify = scratch.host(&["plugin", "verify", "--key", &vendor_pub, s(&unsigned)]);
    assert_eq!(verify.code, Some(3), "{}", verify.all());

    // Signed by the vendor, then changed.
    scratch.host_ok(&["plugin", "sign", "--key", &vendor, s(&unsigned)]);
    scratch.host_ok(&["plugin", "verify", "--key", &vendor_pub, s(&unsigned)]);
    let sig = std::fs::read(dir.join("zync.wasm.sig")).unwrap();
    plugin_bytes::with_section(
        &plugin_set("2.15").join("zync.wasm"),
        "changed",
        b"after signing",
        &unsigned,
    );
    std::fs::write(dir.join("zync.wasm.sig"), sig).unwrap();
    refused(&args, &unsigned, "changed after it was signed");
    let inspect = scratch.host_ok(&["inspect", s(&unsigned), "--key", &vendor_pub]);
    assert!(
        inspect.stdout.contains("DOES NOT CHECK"),
        "{}",
        inspect.stdout
    );
}

/// The pulled, signed set backs up a real cluster under `--require-signed`, and the set
/// it made verifies with the same plugins and key.
#[test]
fn a_pulled_signed_set_runs_under_require_signed() {
    let reg = registry();
    let sim: &Sim = shared(None);
    let scratch = Scratch::new();
    let (private, public) = scratch.key("vendor");
    let set = scratch.set_copy("vendor");
    scratch.host_ok(&["plugin", "sign", "--key", &private, s(&set)]);
    let push = scratch.host_ok(&["plugin", "push", &reg.reference("vendor/run:2.15"), s(&set)]);
    let plugins = scratch.path("operator");
    scratch.host_ok(&[
        "plugin",
        "pull",
        &pinned(&push),
        "--to",
        s(&plugins),
        "--require-signed",
        &public,
    ]);
    let backup = scratch.path("backup");
    let run = sim.host(&[
        "backup",
        "--plugins",
        s(&plugins),
        "--backup-dir",
        s(&backup),
        "--require-signed",
        &public,
    ]);
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.all().contains("3scale-2.15") && run.all().contains("chosen from"),
        "the set in the pulled plugin path is chosen: {}",
        run.all()
    );
    let verify = sim.host(&[
        "verify",
        "--plugins",
        s(&plugins),
        "--backup-dir",
        s(&backup),
        "--require-signed",
        &public,
    ]);
    assert_eq!(verify.code, Some(0), "{}", verify.all());
}
