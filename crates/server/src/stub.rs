//! A small fault-injecting OpenAI-compatible upstream, for tests and benchmarks of the guard:
//! it fails on demand in the ways a real model server fails rarely (500s, timeouts, connection
//! resets, streams cut or stalled mid-way) and records every request it receives.
//!
//! It speaks plain HTTP/1.1 over a raw socket, so each fault is exactly what it says (a reset is
//! a socket closed with nothing sent). The request's `model` chooses the behaviour:
//!
//! | model | answer |
//! |---|---|
//! | `echo` (or anything else) | the last user message, verbatim; streamed in pieces of `chunk` characters (`echo-3`: 3) |
//! | `reply` | the last user message's words in reverse order: as long as the echo, but no part of it is a part of the prompt, as with a real answer (benchmarks of detectors that cache embeddings); streamed like the echo (`reply-3`) |
//! | `fail-500` | 500 with an OpenAI error body |
//! | `slow` | waits 30 s before answering |
//! | `reset` | closes the connection without a byte |
//! | `cut` | streams half the answer, then closes without the end marker |
//! | `stall` | streams half the answer, then sends nothing more |
//! | `tool` | no content: one tool call, `send_message`, whose arguments are `{"text": <the last user message>}`; streamed as fragments of the arguments (`tool-3`: 3 characters) |
//! | `extras` | the echo, with the text again in fields the guard does not check (`audio.transcript`) and in the choice's `logprobs` |
//! | `think` | a reasoning model: the last user message as `reasoning_content`, then the content `THINK_ANSWER`; streamed in pieces like the echo (`think-3`) |
//! | `reason` | the same, with the reasoning in the field `reasoning` (as Ollama and OpenRouter name it), and the role announced in the first delta, beside text (as Ollama does) |
//! | `judge` | a judge model (the guard's `judge` scanner): `VERDICT: UNSAFE` when any message contains [`JUDGE_FLAG`], else `VERDICT: SAFE` |
//! | `judge-lg` | the same as Llama Guard answers: `unsafe` and `S2`, or `safe` |
//! | `judge-mute` | a judge that gives no verdict: `I would rather not say.` |
//!
//! Every answer waits `delay` first (a fixed upstream latency for benchmarks, kept to within
//! a tenth of a millisecond).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running stub.
pub struct Stub {
    /// Base URL, e.g. `http://127.0.0.1:41234/v1`.
    pub url: String,
    pub calls: Arc<AtomicUsize>,
    pub requests: Arc<std::sync::Mutex<Vec<Value>>>,
}

impl Stub {
    /// Requests received so far (chat completion bodies).
    pub fn received(&self) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// Starts the stub on 127.0.0.1 with an OS-chosen port. `record` keeps request bodies (turn it
/// off for load benchmarks).
pub async fn start(delay: Duration, record: bool) -> std::io::Result<Stub> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1", listener.local_addr()?);
    let calls = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (c, r) = (calls.clone(), requests.clone());
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            let _ = sock.set_nodelay(true);
            let (c, r) = (c.clone(), r.clone());
            tokio::spawn(async move {
                let _ = serve_conn(sock, delay, record, c, r).await;
            });
        }
    });
    Ok(Stub {
        url,
        calls,
        requests,
    })
}

/// A recording relay in front of a real upstream (`emmental serve`): it passes each chat
/// request to `upstream` unchanged and the answer back (streamed answers as they arrive), and
/// counts and, with `record`, keeps the request bodies, so that a test sees exactly what a real
/// model server was sent. With `record` off it is the bare forwarder the guard's benchmark
/// measures as the floor of any proxy.
pub async fn relay(upstream: &str, record: bool) -> std::io::Result<Stub> {
    use axum::body::Body;
    use axum::http::{StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::serve::ListenerExt;
    let target = format!("{}/chat/completions", upstream.trim_end_matches('/'));
    let calls = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .map_err(std::io::Error::other)?;
    let (c, r) = (calls.clone(), requests.clone());
    let forward = move |body: bytes::Bytes| {
        let (client, target, c, r) = (client.clone(), target.clone(), c.clone(), r.clone());
        async move {
            c.fetch_add(1, Ordering::SeqCst);
            if record && let Ok(v) = serde_json::from_slice::<Value>(&body) {
                r.lock().unwrap_or_else(|e| e.into_inner()).push(v);
            }
            let answer = client
                .post(&target)
                .header(header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await;
            let Ok(answer) = answer else {
                return StatusCode::BAD_GATEWAY.into_response();
            };
            let status = answer.status();
            let kind = answer
                .headers()
                .get(header::CONTENT_TYPE)
                .cloned()
                .unwrap_or(header::HeaderValue::from_static("application/json"));
            let body = if kind.as_bytes().starts_with(b"text/event-stream") {
                Body::from_stream(answer.bytes_stream())
            } else {
                match answer.bytes().await {
                    Ok(b) => Body::from(b),
                    Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
                }
            };
            let mut resp = Response::new(body);
            *resp.status_mut() = status;
            resp.headers_mut().insert(header::CONTENT_TYPE, kind);
            resp
        }
    };
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(forward));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/v1", listener.local_addr()?);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Stub {
        url,
        calls,
        requests,
    })
}

/// Reads one request: (method, path, body). `None` when the client closed the connection.
async fn read_request(sock: &mut TcpStream) -> std::io::Result<Option<(String, String, Vec<u8>)>> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let (method, path) = (
        first.next().unwrap_or("").to_string(),
        first.next().unwrap_or("").to_string(),
    );
    let len = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some((method, path, body)))
}

/// Waits `delay`, to within the OS timer's slack (about 0.05 ms). tokio's timer counts whole
/// milliseconds and rounds a deadline up, so its 10 ms sleep lasts anything from 10 to 11 ms
/// depending on when it starts: noise as large as the proxy latency a benchmark measures.
async fn wait_precisely(delay: Duration) {
    let _ = tokio::task::spawn_blocking(move || std::thread::sleep(delay)).await;
}

async fn serve_conn(
    mut sock: TcpStream,
    delay: Duration,
    record: bool,
    calls: Arc<AtomicUsize>,
    requests: Arc<std::sync::Mutex<Vec<Value>>>,
) -> std::io::Result<()> {
    // Keep-alive: serve requests on this connection until the client closes it.
    while let Some((method, path, body)) = read_request(&mut sock).await? {
        if method == "GET" && path.ends_with("/models") {
            let b = json!({"object": "list", "data": [{"id": "echo", "object": "model", "created": 0, "owned_by": "stub"}]}).to_string();
            write_json(&mut sock, 200, &b).await?;
            continue;
        }
        calls.fetch_add(1, Ordering::SeqCst);
        let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if record {
            requests
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(req.clone());
        }
        if !delay.is_zero() {
            wait_precisely(delay).await;
        }
        let model = req["model"].as_str().unwrap_or("echo").to_string();
        let stream = req["stream"].as_bool().unwrap_or(false);
        let text = req["messages"]
            .as_array()
            .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
            .and_then(|m| m["content"].as_str())
            .unwrap_or("")
            .to_string();
        let text = if model.starts_with("reply") {
            reversed_words(&text)
        } else {
            text
        };
        match model.as_str() {
            "fail-500" => {
                let b = json!({"error": {"message": "the model crashed", "type": "server_error", "param": null, "code": null}}).to_string();
                write_json(&mut sock, 500, &b).await?;
            }
            "slow" => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                write_json(&mut sock, 200, &completion(&model, &text)).await?;
            }
            "reset" => {
                // Close with RST: no response at all. (A zero linger never blocks on drop,
                // which is what the deprecation warns about.)
                #[allow(deprecated)]
                let _ = sock.set_linger(Some(Duration::ZERO));
                return Ok(());
            }
            m if stream => {
                let size = m
                    .rsplit_once('-')
                    .and_then(|(_, n)| n.parse::<usize>().ok())
                    .unwrap_or(4)
                    .max(1);
                let chars: Vec<char> = text.chars().collect();
                let pieces: Vec<String> = chars.chunks(size).map(|c| c.iter().collect()).collect();
                sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n").await?;
                let role = json!({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": m,
                    "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]});
                // `reason` announces its role in its first delta, with text, as Ollama does.
                if !m.starts_with("reason") {
                    sock.write_all(format!("data: {role}\n\n").as_bytes())
                        .await?;
                }
                if m.starts_with("tool") {
                    let args = json!({"text": text}).to_string();
                    let chars: Vec<char> = args.chars().collect();
                    let first = json!({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": m,
                        "choices": [{"index": 0, "delta": {"role": "assistant", "content": null, "tool_calls": [
                            {"index": 0, "id": "call_stub", "type": "function", "function": {"name": "send_message", "arguments": ""}}]}, "finish_reason": null}]});
                    sock.write_all(format!("data: {first}\n\n").as_bytes())
                        .await?;
                    for p in chars.chunks(size) {
                        let p: String = p.iter().collect();
                        let c = json!({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": m,
                            "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": p}}]}, "finish_reason": null}]});
                        sock.write_all(format!("data: {c}\n\n").as_bytes()).await?;
                        sock.flush().await?;
                    }
                    return end_stream(&mut sock, m, "tool_calls").await;
                }
                if m.starts_with("think") || m.starts_with("reason") {
                    let field = reasoning_field(m);
                    let answer: Vec<char> = THINK_ANSWER.chars().collect();
                    let thought = chars.chunks(size).map(|p| (field, p));
                    let said = answer.chunks(size).map(|p| ("content", p));
                    for (k, (field, p)) in thought.chain(said).enumerate() {
                        let p: String = p.iter().collect();
                        let mut c = json!({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": m,
                            "choices": [{"index": 0, "delta": {field: p}, "finish_reason": null}]});
                        if k == 0 && m.starts_with("reason") {
                            c["choices"][0]["delta"]["role"] = json!("assistant");
                            c["choices"][0]["delta"]["content"] = json!("");
                        }
                        sock.write_all(format!("data: {c}\n\n").as_bytes()).await?;
                        sock.flush().await?;
                    }
                    return end_stream(&mut sock, m, "stop").await;
                }
                let extras = m == "extras";
                let cut = matches!(m, "cut" | "stall");
                let upto = if cut { pieces.len() / 2 } else { pieces.len() };
                for p in &pieces[..upto] {
                    let mut c = json!({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": m,
                        "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": null}]});
                    if extras {
                        c["choices"][0]["delta"]["audio"] = json!({"transcript": p});
                        c["choices"][0]["logprobs"] =
                            json!({"content": [{"token": p, "logprob": -0.5}]});
                    }
                    sock.write_all(format!("data: {c}\n\n").as_bytes()).await?;
                    sock.flush().await?;
                }
                match m {
                    "cut" => return Ok(()),
                    "stall" => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return Ok(());
                    }
                    _ => {}
                }
                let end = json!({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": m,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
                let usage = json!({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": m, "choices": [],
                    "usage": {"prompt_tokens": 1, "completion_tokens": pieces.len(), "total_tokens": 1 + pieces.len()}});
                sock.write_all(
                    format!("data: {end}\n\ndata: {usage}\n\ndata: [DONE]\n\n").as_bytes(),
                )
                .await?;
                return Ok(());
            }
            m if m.starts_with("tool") => {
                let mut c: Value = serde_json::from_str(&completion(m, &text)).expect("JSON");
                c["choices"][0]["message"] = json!({"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_stub", "type": "function", "function": {"name": "send_message", "arguments": json!({"text": text}).to_string()}}]});
                c["choices"][0]["finish_reason"] = json!("tool_calls");
                write_json(&mut sock, 200, &c.to_string()).await?
            }
            m if m.starts_with("think") || m.starts_with("reason") => {
                let mut c: Value =
                    serde_json::from_str(&completion(m, THINK_ANSWER)).expect("JSON");
                c["choices"][0]["message"][reasoning_field(m)] = json!(text);
                write_json(&mut sock, 200, &c.to_string()).await?
            }
            m if m.starts_with("judge") => {
                let flagged = req["messages"].as_array().is_some_and(|ms| {
                    ms.iter().any(|m| {
                        m["content"]
                            .as_str()
                            .is_some_and(|c| c.contains(JUDGE_FLAG))
                    })
                });
                let verdict = match (m, flagged) {
                    ("judge-lg", true) => "unsafe\nS2",
                    ("judge-lg", false) => "safe",
                    ("judge-mute", _) => "I would rather not say.",
                    (_, true) => "The text gives the steps.\nVERDICT: UNSAFE",
                    (_, false) => "VERDICT: SAFE",
                };
                write_json(&mut sock, 200, &completion(m, verdict)).await?
            }
            "extras" => {
                let mut c: Value =
                    serde_json::from_str(&completion("extras", &text)).expect("JSON");
                c["choices"][0]["message"]["audio"] =
                    json!({"id": "audio_stub", "transcript": text});
                c["choices"][0]["logprobs"] =
                    json!({"content": [{"token": text, "logprob": -0.5}]});
                write_json(&mut sock, 200, &c.to_string()).await?
            }
            _ => write_json(&mut sock, 200, &completion(&model, &text)).await?,
        }
    }
    Ok(())
}

/// `text`'s words (split at single spaces) in reverse order.
fn reversed_words(text: &str) -> String {
    text.split(' ').rev().collect::<Vec<_>>().join(" ")
}

/// The field a reasoning model of the stub puts its reasoning in.
fn reasoning_field(model: &str) -> &'static str {
    if model.starts_with("reason") {
        "reasoning"
    } else {
        "reasoning_content"
    }
}

/// The word that makes the stub's `judge` models answer "unsafe".
pub const JUDGE_FLAG: &str = "NITROGLYCERINE";

/// The content of the `think` model's answers (its reasoning is the user's message).
pub const THINK_ANSWER: &str = "That is all I have to say about it, thank you for asking.";

fn completion(model: &str, text: &str) -> String {
    json!({"id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
    .to_string()
}

/// Ends a stream: a last chunk with `finish_reason`, then `[DONE]`.
async fn end_stream(sock: &mut TcpStream, model: &str, finish_reason: &str) -> std::io::Result<()> {
    let end = json!({"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]});
    sock.write_all(format!("data: {end}\n\ndata: [DONE]\n\n").as_bytes())
        .await
}

async fn write_json(sock: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let reason = if status == 200 {
        "OK"
    } else {
        "Internal Server Error"
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(body.as_bytes()).await?;
    sock.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reply_answers_the_prompt_s_words_reversed_streamed_or_not() {
        emmental_models::ensure_crypto_provider();
        let stub = start(Duration::ZERO, false).await.unwrap();
        let url = format!("{}/chat/completions", stub.url);
        let prompt = "Case 7: where is my parcel? (ticket 7)";
        let want = "7) (ticket parcel? my is where 7: Case";
        let client = reqwest::Client::new();
        let ask = |model: &str, stream: bool| {
            client
                .post(&url)
                .json(&json!({"model": model, "stream": stream,
                    "messages": [{"role": "user", "content": prompt}]}))
                .send()
        };
        let plain: Value = ask("reply", false).await.unwrap().json().await.unwrap();
        assert_eq!(plain["choices"][0]["message"]["content"], want);
        let body = ask("reply-3", true).await.unwrap().text().await.unwrap();
        let streamed: String = body
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(String::from)
            })
            .collect();
        assert_eq!(streamed, want);
        // More than one piece of 3 characters, so the pieces were joined.
        assert!(body.matches("\"content\":\"").count() > want.len() / 3);
        // The echo is unchanged.
        let echo: Value = ask("echo", false).await.unwrap().json().await.unwrap();
        assert_eq!(echo["choices"][0]["message"]["content"], prompt);
    }
}
