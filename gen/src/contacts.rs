//! Contact people: a Chinese name, an e-mail on the institution's domain and a phone number with
//! the city's area code.

use super::portable::{Random, between, chance, pick};
use super::tables::{City, People};
use rand::Rng;

/// Share of contacts who give a mobile number rather than the lab's landline.
const MOBILE_SHARE: f64 = 0.15;
/// Second digits of mainland mobile numbers.
const MOBILE_PREFIXES: [char; 5] = ['3', '5', '7', '8', '9'];

/// A person to ask about an instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub name: String,
    pub email: String,
    pub phone: String,
}

/// A contact at an institution with e-mail domain `domain` in `city`.
pub fn contact(rng: &mut Random, people: &People, domain: &str, city: &City) -> Contact {
    let (surname, surname_pinyin) = spelled(pick(rng, &people.surnames));
    let given_length = if chance(rng, 0.7) { 2 } else { 1 };
    let mut name = surname.to_owned();
    let mut initials = String::new();
    for _ in 0..given_length {
        let (character, pinyin) = spelled(pick(rng, &people.given));
        name.push_str(character);
        initials.extend(pinyin.chars().next());
    }
    let suffix = if chance(rng, 0.3) {
        between(rng, 1, 99).to_string()
    } else {
        String::new()
    };
    Contact {
        name,
        email: format!("{surname_pinyin}{initials}{suffix}@{domain}"),
        phone: phone(rng, city),
    }
}

fn spelled(pair: Option<&[String; 2]>) -> (&str, &str) {
    pair.map_or(("王", "wang"), |[text, pinyin]| {
        (text.as_str(), pinyin.as_str())
    })
}

/// A landline with the city's area code, or now and then a mainland mobile.
pub fn phone(rng: &mut Random, city: &City) -> String {
    let on_mainland = city.area.starts_with('0');
    if on_mainland && chance(rng, MOBILE_SHARE) {
        let second = pick(rng, &MOBILE_PREFIXES).copied().unwrap_or('3');
        return format!("1{second}{}", digits(rng, 9));
    }
    let length = city
        .local_digits
        .unwrap_or(if city.area.len() == 3 || !on_mainland {
            8
        } else {
            7
        });
    let first = if on_mainland {
        between(rng, 2, 8)
    } else {
        between(rng, 2, 3)
    };
    format!(
        "{}-{first}{}",
        city.area,
        digits(rng, length.saturating_sub(1))
    )
}

fn digits(rng: &mut Random, count: usize) -> String {
    (0..count)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::tables;
    use rand::SeedableRng;

    #[test]
    fn contacts_look_local() {
        let tables = tables().unwrap();
        let lanzhou = &tables.region("CN-GS").unwrap().cities[0];
        let mut rng = Random::seed_from_u64(9);
        for _ in 0..200 {
            let person = contact(&mut rng, &tables.people, "lzu.edu.cn", lanzhou);
            assert!((2..=3).contains(&person.name.chars().count()));
            assert!(person.email.ends_with("@lzu.edu.cn") && person.email.is_ascii());
            let landline = person.phone.starts_with("0931-") && person.phone.len() == 12;
            let mobile = person.phone.starts_with('1') && person.phone.len() == 11;
            assert!(landline || mobile, "{}", person.phone);
        }
        let beijing = &tables.region("CN-BJ").unwrap().cities[0];
        let number = phone(&mut Random::seed_from_u64(1), beijing);
        assert!(number.starts_with("010-") && number.len() == 12 || number.len() == 11);
    }
}
