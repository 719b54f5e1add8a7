//! One line naming an error and every cause under it: what the one log line at a boundary
//! (an HTTP 5xx, a worker retry, an MQTT batch given up) writes, so it says why, not only what.
//!
//! Not for: choosing what a client is told; that is each adapter's error mapping.

use std::error::Error;
use std::fmt;

/// Displays an error followed by its [`Error::source`] chain on one line, `: `-separated, e.g.
/// `ingest queue unavailable: Connection refused (os error 111)`.
///
/// A cause whose text its parent already shows is not repeated: many errors print their
/// source in their own message as well (`redis::RedisError` of an I/O error, `sqlx::Error`).
///
/// ```
/// use microdash_usecases::ErrorChain;
/// use microdash_usecases::ports::QueueError;
///
/// let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
/// let error = QueueError::unavailable(refused);
/// assert_eq!(ErrorChain(&error).to_string(), "ingest queue unavailable: connection refused");
/// ```
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parent = self.0.to_string();
        f.write_str(&parent)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !parent.contains(&text) {
                write!(f, ": {text}")?;
            }
            parent = text;
            source = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{message}")]
    struct Layer {
        message: &'static str,
        #[source]
        source: Option<Box<dyn Error + Send + Sync>>,
    }

    fn layer(message: &'static str, source: Option<Layer>) -> Layer {
        Layer { message, source: source.map(|s| Box::new(s) as _) }
    }

    #[test]
    fn every_cause_is_named_in_order_after_the_error() {
        let error = layer("top", Some(layer("middle", Some(layer("root cause", None)))));
        assert_eq!(ErrorChain(&error).to_string(), "top: middle: root cause");
    }

    #[test]
    fn an_error_without_a_source_is_its_own_message() {
        assert_eq!(ErrorChain(&layer("alone", None)).to_string(), "alone");
    }

    #[test]
    fn a_cause_its_parent_already_prints_is_not_repeated() {
        let error = layer("queue down", Some(layer("io: refused", Some(layer("refused", None)))));
        assert_eq!(ErrorChain(&error).to_string(), "queue down: io: refused");
    }
}
