//! Agora's rules for channel names and user accounts (the builders themselves validate nothing).

/// Longest channel name Agora accepts, in bytes.
pub const MAX_CHANNEL_LEN: usize = 64;
/// Longest user account Agora accepts, in bytes.
pub const MAX_USER_ACCOUNT_LEN: usize = 255;

/// Agora's channel/account alphabet: `a-z A-Z 0-9`, space and ``!#$%&()+-:;<=.>?@[]^_{|}~,``.
pub(crate) fn is_agora_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b" !#$%&()+-:;<=.>?@[]^_{|}~,".contains(&b)
}

fn valid(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(is_agora_char)
}

/// 1–64 bytes from Agora's channel alphabet.
pub fn is_valid_channel_name(s: &str) -> bool {
    valid(s, MAX_CHANNEL_LEN)
}

/// 1–255 bytes from Agora's channel alphabet.
pub fn is_valid_user_account(s: &str) -> bool {
    valid(s, MAX_USER_ACCOUNT_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_allowed_character() {
        assert!(is_valid_channel_name("azAZ09 !#$%&()+-:;<=.>?@[]^_{|}~,"));
        assert!(is_valid_channel_name(&"x".repeat(64)));
        assert!(is_valid_user_account(&"x".repeat(255)));
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "", "a/b", "a\"b", "a'b", "a*b", "a\\b", "a`b", "é", "a\nb", "a\tb",
        ] {
            assert!(!is_valid_channel_name(bad), "{bad:?}");
            assert!(!is_valid_user_account(bad), "{bad:?}");
        }
        assert!(!is_valid_channel_name(&"x".repeat(65)));
        assert!(!is_valid_user_account(&"x".repeat(256)));
    }
}
