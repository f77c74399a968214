//! Commands in pods over the exec WebSocket. Output is either captured up to a cap (small
//! commands) or streamed through one fixed buffer into a writer (dumps); stdin is either a
//! small buffer or streamed from a reader. Every path waits for the exit status: a stream
//! that ends without one was cut, and that is an error, never a short success.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::Api;
use kube::api::AttachParams;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::attached::Attached;
use super::{CAPTURE_LIMIT, Cluster, PodPermit, STDERR_TAIL, retry};
use crate::error::{Error, Result};
use crate::progress::Transfer;

/// `pod` or `pod/container`, for messages.
pub(super) fn shown(target: &PodPermit) -> String {
    match target.container() {
        Some(c) => format!("{}/{c}", target.pod()),
        None => target.pod().to_string(),
    }
}

/// Why a copy stopped: which side failed matters (a pod that stops reading its stdin may
/// simply be done; a backup file that cannot be read is not).
#[derive(Debug)]
pub(super) enum Pump {
    Read(String),
    Write(String),
    Idle(String),
}

#[derive(Debug, Default)]
pub struct ExecResult {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
    pub truncated: bool,
}

pub(super) const BUFFER: usize = 64 * 1024;

impl Cluster {
    /// Starts a command. `stdin` means the caller will close it to say the input is
    /// complete, which only `v5.channel.k8s.io` can carry: on an older API server the
    /// command would wait for more input forever, so that is refused before it starts.
    pub(super) async fn start(
        &self,
        target: &PodPermit,
        argv: &[String],
        stdin: bool,
        stdout: bool,
    ) -> Result<Attached> {
        if stdin {
            self.require_stdin_close(target).await?;
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let mut params = AttachParams::default()
            .stdin(stdin)
            .stdout(stdout)
            .stderr(true)
            .max_stdin_buf_size(BUFFER)
            .max_stdout_buf_size(BUFFER)
            .max_stderr_buf_size(BUFFER);
        if let Some(container) = target.container() {
            params = params.container(container);
        }
        let pod = target.pod();
        // The upgrade is retried on transient answers: until it succeeds, nothing ran.
        retry::idempotent(|| api.exec(pod, argv.to_vec(), &params))
            .await
            .map(Attached::new)
            .map_err(|e| {
                Error::api(
                    format!("exec of `{}` in pod {}", argv.join(" "), shown(target)),
                    e,
                )
            })
    }

    /// Whether the API server can close a command's stdin, asked once per run by opening
    /// an exec of `true` in the pod about to be used and reading the subprotocol the
    /// server chose (kube's `Connection::supports_stream_close`).
    pub async fn stdin_closes(&self, target: &PodPermit) -> Result<bool> {
        self.stdin_closes
            .get_or_try_init(|| async {
                let mut params = AttachParams::default().stdout(true).stderr(false);
                if let Some(container) = target.container() {
                    params = params.container(container);
                }
                let path = <Pod as kube::Resource>::url_path(&(), Some(&self.namespace));
                let builder = kube::core::Request::new(path);
                let connection = retry::idempotent(|| async {
                    let request = builder
                        .exec(target.pod(), ["true"], &params)
                        .map_err(kube::Error::BuildRequest)?;
                    self.client.connect(request).await
                })
                .await
                .map_err(|e| Error::api(format!("exec of `true` in pod {}", shown(target)), e))?;
                Ok(connection.supports_stream_close())
            })
            .await
            .copied()
    }

    async fn require_stdin_close(&self, target: &PodPermit) -> Result<()> {
        if self.stdin_closes(target).await? {
            return Ok(());
        }
        Err(Error::Refused(format!(
            "the API server at {} offers exec only over v4.channel.k8s.io (Kubernetes before 1.30, \
             OpenShift before 4.17): it cannot close a command's stdin, so a load into mysql, psql or tar \
             would wait for the end of its input forever. Restores need v5.channel.k8s.io; backups work",
            self.server
        )))
    }

    /// Runs a command, capturing its output up to [`CAPTURE_LIMIT`] per stream. A command
    /// that prints nothing on either stream for the idle timeout is stuck (`sleep
    /// infinity`), and is stopped.
    pub async fn exec(
        &self,
        target: &PodPermit,
        argv: &[String],
        stdin: Option<Vec<u8>>,
    ) -> Result<ExecResult> {
        let pod = &shown(target);
        let run = async {
            let mut process = self.start(target, argv, stdin.is_some(), true).await?;
            let writer = process.stdin.take();
            let feed = async move {
                if let (Some(input), Some(mut writer)) = (stdin, writer) {
                    // A command may exit without reading its input; its status tells.
                    let _ = writer.write_all(&input).await;
                    let _ = writer.shutdown().await;
                }
            };
            let activity = Activity::default();
            let outputs = watched_outputs(&mut process, CAPTURE_LIMIT, &activity);
            let idle = self.timeouts.idle;
            let outputs = async {
                tokio::select! {
                    done = feed_until_done(feed, outputs) => Ok(done),
                    () = activity.idle_for(idle) => Err(Error::Timeout(format!(
                        "`{}` in pod {pod} printed nothing for {}s (--idle-timeout) and was stopped",
                        argv.join(" "),
                        idle.as_secs()
                    ))),
                }
            };
            let (_, (out, out_cut), (err, err_cut)) = match outputs.await {
                Ok(done) => done,
                Err(stuck) => {
                    process.abort();
                    return Err(stuck);
                }
            };
            let code = exit_code(pod, argv, process.status().await)?;
            Ok(ExecResult {
                stdout: out,
                stderr: err,
                exit_code: code,
                truncated: out_cut || err_cut,
            })
        };
        self.within_call_timeout(pod, argv, run).await
    }

    /// Streams the command's stdout into `sink` (which the caller finishes or discards).
    /// Returns the number of stdout bytes.
    pub async fn exec_to_writer<W: AsyncWrite + Unpin>(
        &self,
        target: &PodPermit,
        argv: &[String],
        sink: &mut W,
        transfer: &mut Transfer,
    ) -> Result<u64> {
        let pod = &shown(target);
        let run = async {
            let mut process = self.start(target, argv, false, true).await?;
            let mut stdout = process.stdout.take().expect("requested");
            let stderr = process.stderr.take().expect("requested");
            let pumped = async {
                let copied = self.pump(&mut stdout, sink, transfer, pod).await;
                if copied.is_err() {
                    // Our side failed (disk, idle timeout): stop the command rather than
                    // wait for a status it cannot send while its output is not read.
                    process.abort();
                }
                copied
            };
            let (copied, tail) = tokio::join!(pumped, capture_tail(stderr, STDERR_TAIL));
            let copied = match copied {
                Ok(n) => n,
                Err(e) => {
                    return Err(match e {
                        Pump::Idle(m) => Error::Timeout(m),
                        Pump::Read(m) => Error::Stream(format!("reading the output of {pod}: {m}")),
                        Pump::Write(m) => {
                            Error::Stream(format!("writing the output of {pod}: {m}"))
                        }
                    });
                }
            };
            let code = exit_code(pod, argv, process.status().await)?;
            if code != 0 {
                return Err(Error::CommandFailed {
                    argv: argv.to_vec(),
                    exit_code: code,
                    stderr_tail: String::from_utf8_lossy(&tail).into_owned(),
                });
            }
            sink.flush()
                .await
                .map_err(|e| Error::Stream(format!("writing the output of {pod}: {e}")))?;
            Ok(copied)
        };
        self.within_call_timeout(pod, argv, run).await
    }

    /// Streams `source` into the command's stdin, then closes it. A non-zero exit is an
    /// error with the stderr tail.
    pub async fn reader_to_exec<R: AsyncRead + Unpin>(
        &self,
        source: &mut R,
        target: &PodPermit,
        argv: &[String],
        transfer: &mut Transfer,
    ) -> Result<ExecResult> {
        let pod = &shown(target);
        let run = async {
            let mut process = self.start(target, argv, true, true).await?;
            let mut stdin = process.stdin.take().expect("requested");
            let outputs = outputs(&mut process, CAPTURE_LIMIT);
            let feed = async {
                let copied = self.pump(source, &mut stdin, transfer, pod).await;
                if matches!(copied, Err(Pump::Read(_) | Pump::Idle(_))) {
                    // Our side failed: the command must not take a truncated input as whole.
                    process.abort();
                }
                let _ = stdin.shutdown().await;
                drop(stdin);
                copied
            };
            let (copied, (out, out_cut), (err, _)) = feed_until_done(feed, outputs).await;
            match copied {
                // A write into stdin fails when the command ended early; its exit status
                // says whether that was fine.
                Some(Err(Pump::Write(_))) | Some(Ok(_)) | None => {}
                Some(Err(Pump::Read(m))) => {
                    return Err(Error::Invalid(format!("reading the data for {pod}: {m}")));
                }
                Some(Err(Pump::Idle(m))) => return Err(Error::Timeout(m)),
            }
            let code = exit_code(pod, argv, process.status().await)?;
            if code != 0 {
                return Err(Error::CommandFailed {
                    argv: argv.to_vec(),
                    exit_code: code,
                    stderr_tail: String::from_utf8_lossy(&err).into_owned(),
                });
            }
            Ok(ExecResult {
                stdout: out,
                stderr: err,
                exit_code: 0,
                truncated: out_cut,
            })
        };
        self.within_call_timeout(pod, argv, run).await
    }

    /// Copies with one fixed buffer, so memory stays flat however big the stream; a
    /// stream that moves nothing for the idle timeout is stuck.
    pub(super) async fn pump<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
        &self,
        from: &mut R,
        to: &mut W,
        transfer: &mut Transfer,
        pod: &str,
    ) -> std::result::Result<u64, Pump> {
        let mut buf = vec![0u8; BUFFER];
        let mut total = 0u64;
        let idle = self.timeouts.idle;
        let stuck = || {
            Pump::Idle(format!(
                "no data moved to or from pod {pod} for {}s",
                idle.as_secs()
            ))
        };
        loop {
            let n = match tokio::time::timeout(idle, from.read(&mut buf)).await {
                Err(_) => return Err(stuck()),
                Ok(Err(e)) => return Err(Pump::Read(e.to_string())),
                Ok(Ok(0)) => return Ok(total),
                Ok(Ok(n)) => n,
            };
            match tokio::time::timeout(idle, to.write_all(&buf[..n])).await {
                Err(_) => return Err(stuck()),
                Ok(Err(e)) => return Err(Pump::Write(e.to_string())),
                Ok(Ok(())) => {}
            }
            total += n as u64;
            transfer.add(n as u64);
        }
    }

    async fn within_call_timeout<T>(
        &self,
        pod: &str,
        argv: &[String],
        run: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        tokio::time::timeout(self.timeouts.call, run)
            .await
            .unwrap_or_else(|_| {
                Err(Error::Timeout(format!(
                    "`{}` in pod {pod} ran longer than {}s",
                    argv.join(" "),
                    self.timeouts.call.as_secs()
                )))
            })
    }
}

/// stdout (head) and stderr (tail) of a process, read until the exec stream ends.
fn outputs(
    process: &mut Attached,
    limit: usize,
) -> impl Future<Output = ((Vec<u8>, bool), (Vec<u8>, bool))> + use<> {
    let stdout = process.stdout.take().expect("requested");
    let stderr = process.stderr.take().expect("requested");
    async move {
        tokio::join!(
            capture_head(stdout, limit),
            capture_tail_with_flag(stderr, STDERR_TAIL)
        )
    }
}

/// When a command last printed something, for the idle timeout of captured commands.
#[derive(Clone)]
struct Activity(std::sync::Arc<std::sync::Mutex<tokio::time::Instant>>);

impl Default for Activity {
    fn default() -> Self {
        Activity(std::sync::Arc::new(std::sync::Mutex::new(
            tokio::time::Instant::now(),
        )))
    }
}

impl Activity {
    fn touch(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = tokio::time::Instant::now();
    }

    fn last(&self) -> tokio::time::Instant {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Returns once nothing has happened for `idle`.
    async fn idle_for(&self, idle: std::time::Duration) {
        loop {
            let until = self.last() + idle;
            if tokio::time::Instant::now() >= until {
                return;
            }
            tokio::time::sleep_until(until).await;
        }
    }
}

/// A pipe whose reads count as the command's activity.
struct Watched<R> {
    inner: R,
    activity: Activity,
}

impl<R: AsyncRead + Unpin> AsyncRead for Watched<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

/// [`outputs`], with every byte read counting as activity.
fn watched_outputs(
    process: &mut Attached,
    limit: usize,
    activity: &Activity,
) -> impl Future<Output = ((Vec<u8>, bool), (Vec<u8>, bool))> + use<> {
    let stdout = Watched {
        inner: process.stdout.take().expect("requested"),
        activity: activity.clone(),
    };
    let stderr = Watched {
        inner: process.stderr.take().expect("requested"),
        activity: activity.clone(),
    };
    async move {
        tokio::join!(
            capture_head(stdout, limit),
            capture_tail_with_flag(stderr, STDERR_TAIL)
        )
    }
}

/// Feeds stdin while reading the outputs. The outputs end only when the exec stream ends,
/// so if they end first, the command finished without reading all of its input and the
/// feed is dropped instead of waiting for room that will never come. `None`: the feed did
/// not complete.
async fn feed_until_done<F, T>(
    feed: F,
    outputs: impl Future<Output = ((Vec<u8>, bool), (Vec<u8>, bool))>,
) -> (Option<T>, (Vec<u8>, bool), (Vec<u8>, bool))
where
    F: Future<Output = T>,
{
    tokio::pin!(feed);
    tokio::pin!(outputs);
    tokio::select! {
        fed = &mut feed => {
            let (out, err) = outputs.await;
            (Some(fed), out, err)
        }
        (out, err) = &mut outputs => (None, out, err),
    }
}

/// The exit code from the status channel. No status at all means the connection was cut.
pub(super) fn exit_code(pod: &str, argv: &[String], status: Option<Status>) -> Result<i32> {
    let Some(status) = status else {
        return Err(Error::Stream(format!(
            "the exec stream of `{}` in pod {pod} ended without an exit status: the connection was cut, the output may be incomplete",
            argv.join(" ")
        )));
    };
    if status.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    if status.reason.as_deref() == Some("NonZeroExitCode")
        && let Some(code) = status
            .details
            .as_ref()
            .and_then(|d| d.causes.as_ref())
            .and_then(|c| c.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
            .and_then(|c| c.message.as_deref())
            .and_then(|m| m.parse().ok())
    {
        return Ok(code);
    }
    Err(Error::Stream(format!(
        "exec of `{}` in pod {pod} failed: {}",
        argv.join(" "),
        status.message.unwrap_or_else(|| "no message".into())
    )))
}

/// The first `limit` bytes; the rest is read and dropped so the command never blocks.
async fn capture_head<R: AsyncRead + Unpin>(mut from: R, limit: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut cut = false;
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = limit.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
        cut |= n > room;
    }
    (kept, cut)
}

/// The last `limit` bytes: for stderr, where the reason for a failure is at the end.
pub(super) async fn capture_tail<R: AsyncRead + Unpin>(from: R, limit: usize) -> Vec<u8> {
    capture_tail_with_flag(from, limit).await.0
}

async fn capture_tail_with_flag<R: AsyncRead + Unpin>(
    mut from: R,
    limit: usize,
) -> (Vec<u8>, bool) {
    let mut kept = std::collections::VecDeque::with_capacity(limit);
    let mut buf = vec![0u8; 16 * 1024];
    let mut cut = false;
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            if kept.len() == limit {
                kept.pop_front();
                cut = true;
            }
            kept.push_back(b);
        }
    }
    (kept.into_iter().collect(), cut)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_is_measured_from_the_last_output() {
        let activity = Activity::default();
        let started = tokio::time::Instant::now();
        let talker = activity.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            talker.touch();
        });
        activity.idle_for(Duration::from_secs(5)).await;
        assert_eq!(started.elapsed().as_secs(), 8);
    }
}
