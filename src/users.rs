//! The `users-file` of `onvifbackchannelsrc`: one `user:password:role` per
//! line, role `viewer` (may watch) or `talker` (may watch and talk). Blank
//! lines and lines starting with `#` are skipped.
//!
//! Errors name the line and the user, never the password.

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Viewer,
    Talker,
}

impl Role {
    /// The role name, as put in the RTSP token's `media.factory.role`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Talker => "talker",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "talker" => Some(Role::Talker),
            _ => None,
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub password: String,
    pub role: Role,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password", &"<hidden>")
            .field("role", &self.role)
            .finish()
    }
}

/// Parses the text of a users file.
pub fn parse(text: &str) -> Result<Vec<User>, String> {
    let mut users: Vec<User> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        // The password may itself contain ':'; the user name and the role
        // may not.
        let (name, rest) = line
            .split_once(':')
            .ok_or_else(|| format!("line {n}: expected user:password:role"))?;
        let (password, role) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("line {n} (user '{name}'): expected user:password:role"))?;
        if name.is_empty() || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(format!("line {n}: empty or invalid user name"));
        }
        if password.is_empty() {
            return Err(format!("line {n} (user '{name}'): empty password"));
        }
        let role = Role::parse(role.trim()).ok_or_else(|| {
            format!(
                "line {n} (user '{name}'): unknown role '{}', expected viewer or talker",
                role.trim()
            )
        })?;
        if users.iter().any(|u| u.name == name) {
            return Err(format!("line {n}: user '{name}' is listed twice"));
        }
        users.push(User {
            name: name.to_string(),
            password: password.to_string(),
            role,
        });
    }
    Ok(users)
}

/// Whether a file mode lets others than its owner read it.
pub fn readable_by_others(mode: u32) -> bool {
    mode & 0o077 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_with_roles_comments_and_blank_lines() {
        let users =
            parse("# who may talk\nalice:s3cret:talker\n\n  \nbob:pw:with:colons:viewer\r\n")
                .unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].name, "alice");
        assert_eq!(users[0].password, "s3cret");
        assert_eq!(users[0].role, Role::Talker);
        assert_eq!(users[1].password, "pw:with:colons");
        assert_eq!(users[1].role, Role::Viewer);
    }

    #[test]
    fn errors_name_the_line_but_never_the_password() {
        for (text, expect) in [
            ("alice", "line 1"),
            ("alice:hunter2", "line 1"),
            ("alice:hunter2:admin", "unknown role 'admin'"),
            (":hunter2:viewer", "user name"),
            ("alice::viewer", "empty password"),
            ("a:hunter2:viewer\na:hunter2:talker", "listed twice"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(expect), "{text:?}: {err}");
            assert!(!err.contains("hunter2"), "{text:?}: {err}");
        }
        let debug = format!("{:?}", parse("alice:hunter2:viewer").unwrap());
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn file_modes() {
        assert!(!readable_by_others(0o600));
        assert!(!readable_by_others(0o400));
        assert!(readable_by_others(0o640));
        assert!(readable_by_others(0o644));
    }
}
