//! An incremental parser for server-sent events (the WHATWG `text/event-stream` format), fed with
//! whatever chunks the network delivers: an event, a line, a `\r\n` pair or a multi-byte
//! character may be split anywhere.
//!
//! Only what OpenAI-compatible servers use is kept: the `event` name and the `data` lines (joined
//! with `\n`). Comments (`: keep-alive`), `id` and `retry` fields are ignored.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; empty for the default `message` type.
    pub event: String,
    pub data: String,
}

/// Incremental SSE parser: [`push`](Self::push) bytes as they arrive, [`finish`](Self::finish) at
/// the end of the body.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a `\n` starting the next chunk belongs to it.
    after_cr: bool,
    /// Whether a line has been processed yet: a UTF-8 byte-order mark is skipped before the first.
    seen_line: bool,
    event: String,
    data: String,
    has_data: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk and returns the events it completed.
    pub fn push(&mut self, mut chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if self.after_cr && !chunk.is_empty() {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(i) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&chunk[..i]);
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut out);
            if chunk[i] == b'\r' {
                match chunk.get(i + 1) {
                    Some(b'\n') => chunk = &chunk[i + 2..],
                    Some(_) => chunk = &chunk[i + 1..],
                    None => {
                        self.after_cr = true;
                        chunk = &[];
                    }
                }
            } else {
                chunk = &chunk[i + 1..];
            }
        }
        self.line.extend_from_slice(chunk);
        out
    }

    /// Ends the stream. The format says an event without its blank line is dropped, but some
    /// servers close right after the last `data:` line, so a pending event is returned (including
    /// an unterminated last line); the caller decides whether it is complete.
    pub fn finish(&mut self) -> Option<SseEvent> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut out);
        }
        self.dispatch(&mut out);
        out.pop()
    }

    /// Whether bytes of an unfinished event are buffered.
    pub fn has_pending(&self) -> bool {
        !self.line.is_empty() || self.has_data
    }

    fn process_line(&mut self, mut line: &[u8], out: &mut Vec<SseEvent>) {
        if !self.seen_line {
            self.seen_line = true;
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (&*line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = value.to_string(),
            _ => {} // id, retry and unknown fields
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = std::mem::take(&mut self.event);
        if self.has_data {
            self.has_data = false;
            out.push(SseEvent {
                event,
                data: std::mem::take(&mut self.data),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    /// Feeds `input` split at every possible pair of points and checks the result never changes.
    fn parse_all_splits(input: &[u8]) -> Vec<SseEvent> {
        let mut whole = SseParser::new();
        let mut expected = whole.push(input);
        expected.extend(whole.finish());
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let mut p = SseParser::new();
                let mut got = p.push(&input[..i]);
                got.extend(p.push(&input[i..j]));
                got.extend(p.push(&input[j..]));
                got.extend(p.finish());
                assert_eq!(got, expected, "split at {i},{j}");
            }
        }
        expected
    }

    #[test]
    fn parses_openai_style_stream() {
        let events = parse_all_splits(b"data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n");
        assert_eq!(data(&events), ["{\"a\":1}", "{\"a\":2}", "[DONE]"]);
    }

    #[test]
    fn handles_crlf_and_cr_line_endings_split_anywhere() {
        let events = parse_all_splits(b"data: one\r\n\r\ndata: two\r\rdata: three\n\n");
        assert_eq!(data(&events), ["one", "two", "three"]);
    }

    #[test]
    fn joins_multi_line_data_and_keeps_event_names() {
        let events = parse_all_splits(b"event: error\ndata: a\ndata:b\ndata:  c\n\n");
        assert_eq!(
            events,
            [SseEvent {
                event: "error".into(),
                data: "a\nb\n c".into()
            }]
        );
    }

    #[test]
    fn ignores_comments_ids_retries_and_empty_events() {
        let events =
            parse_all_splits(b": keep-alive\n\nid: 7\nretry: 100\n\n:\ndata: x\nid: 8\n\n\n\n");
        assert_eq!(data(&events), ["x"]);
    }

    #[test]
    fn skips_a_byte_order_mark_only_at_the_start() {
        let events = parse_all_splits(b"\xEF\xBB\xBFdata: x\n\n");
        assert_eq!(data(&events), ["x"]);
    }

    #[test]
    fn keeps_multi_byte_characters_split_across_chunks() {
        let events = parse_all_splits("data: héllo – 世界\n\n".as_bytes());
        assert_eq!(data(&events), ["héllo – 世界"]);
    }

    #[test]
    fn finish_returns_an_event_missing_its_blank_line() {
        let mut p = SseParser::new();
        assert!(p.push(b"data: [DONE]").is_empty());
        assert!(p.has_pending());
        assert_eq!(p.finish().unwrap().data, "[DONE]");
        assert!(!p.has_pending());
        let mut p = SseParser::new();
        assert!(p.push(b"data: x\n\n").len() == 1);
        assert_eq!(p.finish(), None);
    }
}
