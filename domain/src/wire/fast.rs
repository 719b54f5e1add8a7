//! The common shape of a batch, read without serde: an array of objects with known fields,
//! strings without escapes, plain numbers, and nothing wrong with any item. Anything else
//! (an escape, an unknown or repeated field, a wrong type, an invalid value, malformed JSON)
//! gives `None`, and the batch is read again by the general reader, which reports it.
//!
//! So this path never decides an answer of its own: it gives the general reader's answer
//! sooner. It fills the same [`WireItem`] slots through the same [`FieldKind`] conversions and
//! validates with the same [`WireItem::validate`]; a test compares the two readers on generated
//! bodies. Reading with serde took more than half of the API's CPU in a profile at 0.8 M
//! samples/s, and 4,510 instructions a sample with typed fields (callgrind on
//! `examples/parse_batch`); with this reader the whole parse takes about 3,750.

use std::collections::BTreeMap;

use super::item::FieldKind;
use super::{Slot, ValidationContext, WireItem};
use crate::sample::{MetricName, Sample, Tags};

/// Reads `json` if it has the common shape and every item is valid.
pub(super) fn parse(json: &str, ctx: &ValidationContext, max_items: usize) -> Option<Vec<Sample>> {
    let mut s = Scanner { b: json.as_bytes(), text: json, at: 0 };
    s.ws();
    let samples = match s.peek()? {
        b'{' if max_items > 0 => vec![s.item(ctx, None)?],
        b'[' => {
            s.at += 1;
            let mut samples = Vec::with_capacity((json.len() / 64).clamp(1, max_items.max(1)));
            loop {
                if samples.len() == max_items {
                    return None;
                }
                s.ws();
                let previous = samples.last().map(|p: &Sample| &p.series.metric);
                let sample = s.item(ctx, previous)?;
                samples.push(sample);
                if s.closes(b']')? {
                    break;
                }
            }
            samples
        }
        _ => return None,
    };
    s.ws();
    (s.at == s.b.len()).then_some(samples)
}

#[derive(Clone, Copy)]
struct Scanner<'a> {
    b: &'a [u8],
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// JSON's whitespace: space, tab, line feed, carriage return.
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// A string without escapes or control characters, as the text between the quotes.
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        let len = string_end(&self.b[start..])?;
        self.at = start + len;
        self.expect(b'"')?;
        Some(&self.text[start..start + len])
    }

    /// The string [`Scanner::string`] would read, without reading it.
    fn peek_string(&self) -> Option<&'a str> {
        Scanner { at: self.at, ..*self }.string()
    }

    /// An object member's key and its colon, with the whitespace around them.
    fn key(&mut self) -> Option<&'a str> {
        self.ws();
        let key = self.string()?;
        self.ws();
        self.expect(b':')?;
        self.ws();
        Some(key)
    }

    /// After a member or element: `,` (false, more follow) or `close` (true).
    fn closes(&mut self, close: u8) -> Option<bool> {
        self.ws();
        match self.next()? {
            b',' => Some(false),
            b if b == close => Some(true),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.b.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// One item, validated; `None` for anything the general reader should look at. A metric
    /// name equal to `previous` (the previous item's, as it mostly is) is not validated again.
    fn item(&mut self, ctx: &ValidationContext, previous: Option<&MetricName>) -> Option<Sample> {
        self.expect(b'{')?;
        let mut item = WireItem::default();
        self.ws();
        if self.peek()? == b'}' {
            // Valid JSON, but an invalid item: the general reader reports it.
            return None;
        }
        loop {
            let twice = match self.key()? {
                "metric_name" | "name" => match previous {
                    Some(p) if self.peek_string() == Some(p.as_str()) => {
                        self.string()?;
                        item.metric_name.replace(Ok(Some(p.clone()))).is_some()
                    }
                    _ => self.field(&mut item.metric_name)?,
                },
                "value" => self.field(&mut item.value)?,
                "timestamp" | "ts" => self.field(&mut item.timestamp)?,
                "agent_id" => self.field(&mut item.agent_id)?,
                "dedupe_id" => self.field(&mut item.dedupe_id)?,
                "tags" => self.tags(&mut item.tags)?,
                _ => return None,
            };
            if twice {
                return None;
            }
            if self.closes(b'}')? {
                break;
            }
        }
        item.validate(ctx).ok()
    }

    /// Reads a string, number or `null` into `slot`; true if it was filled already.
    fn field<T: FieldKind>(&mut self, slot: &mut Slot<T>) -> Option<bool> {
        let value = match self.peek()? {
            b'"' => T::from_str(self.string()?).ok()?,
            b'n' => {
                self.literal(b"null")?;
                return Some(slot.replace(Ok(None)).is_some());
            }
            b'-' | b'0'..=b'9' => self.number::<T>()?,
            _ => return None,
        };
        Some(slot.replace(Ok(Some(value))).is_some())
    }

    /// A number by JSON's grammar, converted as serde_json does: an integer as `i64` (serde's
    /// `u64` reads the same below `i64::MAX`; larger ones and `-0` go to the general reader),
    /// anything else as a correctly rounded `f64` (serde_json's `float_roundtrip`).
    fn number<T: FieldKind>(&mut self) -> Option<T> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if matches!(self.peek(), Some(b'0'..=b'9')) {
            // A leading zero: not JSON.
            return None;
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.digit()?;
            integer = false;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.digit()?;
            integer = false;
        }
        let text = &self.text[start..self.at];
        if integer {
            let v: i64 = text.parse().ok()?;
            if v == 0 && negative {
                return None;
            }
            T::from_i64(v).ok()
        } else {
            let v: f64 = text.parse().ok()?;
            // Out of range, or a non-zero number rounded to zero: serde_json refuses the one
            // and may round the other differently; let it answer.
            let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
            if !v.is_finite() || (v == 0.0 && mantissa.bytes().any(|b| matches!(b, b'1'..=b'9'))) {
                return None;
            }
            T::from_f64(v).ok()
        }
    }

    /// At least one digit, then any more.
    fn digit(&mut self) -> Option<()> {
        self.next()?.is_ascii_digit().then(|| self.digits())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }

    /// Reads `null` or an object of string values into the tags slot.
    fn tags(&mut self, slot: &mut Slot<Tags>) -> Option<bool> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(slot.replace(Ok(None)).is_some());
        }
        self.expect(b'{')?;
        let mut map = BTreeMap::new();
        self.ws();
        if self.peek()? == b'}' {
            self.at += 1;
        } else {
            loop {
                let key = self.key()?;
                let value = self.string()?;
                // A repeated key goes to the general reader, which refuses it.
                if map.insert(key.to_owned(), value.to_owned()).is_some() {
                    return None;
                }
                if self.closes(b'}')? {
                    break;
                }
            }
        }
        let tags = Tags::new(map).ok()?;
        Some(slot.replace(Ok(Some(tags))).is_some())
    }
}

/// Where a string's text ends: the first `"`, `\\` or control character. Eight bytes at a
/// time: a byte-by-byte loop was most of this reader's time.
fn string_end(b: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES * 0x80;
    // High bit set in the bytes of `w` below `n` (n <= 128); only bytes after a true one can be
    // false positives, and the first flagged byte is what is wanted.
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH;
    let mut chunks = b.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let w = u64::from_le_bytes(chunk.try_into().expect("chunks of eight"));
        let hits =
            below(w ^ (ONES * u64::from(b'"')), 1) | below(w ^ (ONES * u64::from(b'\\')), 1) | below(w, 0x20);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let rest = chunks.remainder().iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    Some(at + rest)
}
