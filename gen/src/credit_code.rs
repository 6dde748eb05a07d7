//! Unified social credit codes (统一社会信用代码, GB 32100-2015): registration authority and
//! type, the 6-digit administrative division, the 9-character organisation code (GB 11714, with its
//! own check character) and the final GB 32100 check character.

/// The 31 characters a credit code may use, in value order.
const CREDIT_CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// GB 32100 weights of the first 17 characters (3^i mod 31).
const CREDIT_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
/// GB 11714 weights of the 8 body characters of an organisation code.
const ORGANISATION_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// Who registered the body: the first two characters of its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// 12: a public institution (事业单位) registered with the establishment office.
    PublicInstitution,
    /// 91: an enterprise registered with market regulation.
    Enterprise,
}

impl Registration {
    fn prefix(self) -> &'static str {
        match self {
            Registration::PublicInstitution => "12",
            Registration::Enterprise => "91",
        }
    }
}

/// A full 18-character code from a 6-digit division and an 8-digit organisation body.
pub fn credit_code(registration: Registration, division: &str, body: [u8; 8]) -> String {
    let mut code = String::with_capacity(18);
    code.push_str(registration.prefix());
    code.push_str(division);
    code.extend(body.iter().map(|d| char::from(b'0' + d % 10)));
    code.push(organisation_check(&body));
    code.push(credit_check(&code));
    code
}

/// The GB 11714 check character of an all-digit organisation code body.
fn organisation_check(body: &[u8; 8]) -> char {
    let sum: u32 = body
        .iter()
        .zip(ORGANISATION_WEIGHTS)
        .map(|(d, w)| u32::from(d % 10) * w)
        .sum();
    match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        c => char::from_digit(c, 10).unwrap_or('0'),
    }
}

/// The GB 32100 check character over the first 17 characters.
fn credit_check(first_17: &str) -> char {
    let sum: u32 = first_17
        .bytes()
        .zip(CREDIT_WEIGHTS)
        .map(|(b, w)| value_of(b) * w)
        .sum();
    let check = (31 - sum % 31) % 31;
    char::from(CREDIT_CHARSET[check as usize])
}

fn value_of(byte: u8) -> u32 {
    CREDIT_CHARSET
        .iter()
        .position(|&c| c == byte)
        .map_or(0, |p| p as u32)
}

#[cfg(test)]
pub(crate) fn is_valid(code: &str) -> bool {
    code.len() == 18
        && code.bytes().all(|b| CREDIT_CHARSET.contains(&b))
        && code[..17]
            .bytes()
            .zip(CREDIT_WEIGHTS)
            .map(|(b, w)| value_of(b) * w)
            .sum::<u32>()
            % 31
            == (31 - value_of(code.as_bytes()[17])) % 31
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_codes_check_out() {
        // Codes printed on public business licences and the standard's own example.
        for code in [
            "91350100M000100Y43",
            "9144030071526726XG",
            "91330100799655058B",
        ] {
            assert!(is_valid(code), "{code}");
            assert_eq!(credit_check(&code[..17]), char::from(code.as_bytes()[17]));
        }
        assert!(!is_valid("91350100M000100Y44"));
    }

    #[test]
    fn organisation_check_matches_gb_11714() {
        // 71526726-X and 79965505-8 from the codes above.
        assert_eq!(organisation_check(&[7, 1, 5, 2, 6, 7, 2, 6]), 'X');
        assert_eq!(organisation_check(&[7, 9, 9, 6, 5, 5, 0, 5]), '8');
    }

    #[test]
    fn built_codes_are_valid_and_match_the_schema_charset() {
        let code = credit_code(
            Registration::PublicInstitution,
            "620100",
            [4, 3, 8, 0, 0, 0, 9, 8],
        );
        assert_eq!(code.len(), 18);
        assert!(code.starts_with("1262010043800098"));
        assert!(is_valid(&code));
        let firm = credit_code(Registration::Enterprise, "110000", [1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(firm.starts_with("91") && is_valid(&firm));
    }
}
