//! Kong's name rules and the catalog's display-name slugs.

/// Kong entity names (services, routes): letters, digits and `. - _ ~ :`, no spaces.
pub fn check_entity_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("length must be at least 1".into());
    }
    if name.len() > 128 {
        return Err("length must not exceed 128".into());
    }
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~' | ':'))
    {
        Ok(())
    } else {
        Err(format!(
            "invalid value '{name}': the only accepted ascii characters are alphanumerics or ., -, _, ~ and :"
        ))
    }
}

/// A catalog service's display name: letters, digits, spaces and `. - _ ~ :`.
pub fn check_display_name(name: &str) -> Result<(), String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err("Display name is required".into());
    }
    if trimmed.len() > 100 {
        return Err("Display name must be at most 100 characters".into());
    }
    if trimmed
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_' | '~' | ':'))
    {
        Ok(())
    } else {
        Err("Use letters, digits, spaces and . - _ ~ : only".into())
    }
}

/// The key derived from a display name: lower-case, spaces become `-`, so "Example Service"
/// and "Example-Service" collide as Konnect's do.
pub fn slugify(display_name: &str) -> String {
    display_name
        .trim()
        .chars()
        .map(|c| {
            if c == ' ' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_names_follow_kong_rules() {
        assert!(check_entity_name("example_service").is_ok());
        assert!(check_entity_name("Example-Service.v1:~").is_ok());
        assert!(check_entity_name("Example Service").is_err());
        assert!(check_entity_name("").is_err());
        assert!(check_entity_name("caf\u{e9}").is_err());
    }

    #[test]
    fn slugs_treat_spaces_as_dashes() {
        assert_eq!(slugify("Example Service"), slugify("Example-Service"));
        assert_eq!(slugify(" My API "), "my-api");
        assert!(check_display_name("bad/name").is_err());
        assert!(check_display_name("   ").is_err());
    }
}
