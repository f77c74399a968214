use tokio::io::AsyncReadExt;

use super::*;

/// Checks `text` in one piece and byte by byte; both must agree.
fn check(content: Content, text: &str) -> Result<(), Refusal> {
    let whole = {
        let mut g = Guard::new(content);
        g.feed(text.as_bytes()).and_then(|_| g.finish())
    };
    let bytewise = {
        let mut g = Guard::new(content);
        let mut r = Ok(());
        for b in text.as_bytes() {
            if let Err(e) = g.feed(std::slice::from_ref(b)) {
                r = Err(e);
                break;
            }
        }
        r.and_then(|()| g.finish())
    };
    assert_eq!(whole, bytewise, "split reads must not change the verdict");
    whole
}

fn pg(text: &str) -> Result<(), Refusal> {
    check(Content::PostgresqlDump, text)
}

fn my(text: &str) -> Result<(), Refusal> {
    check(Content::MysqlDump, text)
}

const PG_DUMP: &str = r#"--
-- PostgreSQL database dump
--

\restrict 3Xk9aQ0bZ2

SET statement_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);

CREATE FUNCTION public.que_validate_tags(tags_array jsonb) RETURNS boolean
    LANGUAGE sql
    AS $_$
  SELECT bool_and(jsonb_typeof(value) = 'string' AND value ~ '^\d+\s$')
  FROM jsonb_array_elements($1)
$_$;

COMMENT ON TABLE public.t IS 'it''s a \ backslash';
CREATE TABLE public.t (id integer, note text DEFAULT E'tab\there');
/* a /* nested */ comment \! not a command */

COPY public.t (id, note) FROM stdin;
1	\N
2	line\nbreak with \\ and \t and quote ' and "
3	\\! not a command: escaped backslash
\.

SELECT pg_catalog.setval('public.t_id_seq', 3, true);

\unrestrict 3Xk9aQ0bZ2
"#;

#[test]
fn pg_dump_output_passes() {
    pg(PG_DUMP).unwrap();
    // Without the restrict lines too (pg_dump before 17.6).
    pg(&PG_DUMP
        .replace("\\restrict 3Xk9aQ0bZ2\n", "")
        .replace("\\unrestrict 3Xk9aQ0bZ2\n", ""))
    .unwrap();
}

#[test]
fn psql_meta_commands_are_refused_wherever_psql_reads_them() {
    for (text, line, cmd) in [
        ("SELECT 1;\n\\! touch /tmp/pwned\n", 2, "\\!"),
        ("SELECT 1; \\! touch /tmp/pwned\n", 1, "\\!"),
        ("SELECT 1 \\o |sh\n", 1, "\\o"),
        ("\\copy t from program 'id'\n", 1, "\\copy"),
        ("SELECT 'x' \\gexec\n", 1, "\\gexec"),
        ("\\set ON_ERROR_STOP off\n", 1, "\\set"),
        ("\\restrict KEY; \\! id\n", 1, "restrict"),
        ("\\restrict\n", 1, "restrict"),
        ("  \\restrict KEY\n", 1, "\\restrict"),
        ("\\i /etc/passwd", 1, "\\i"),
    ] {
        let r = pg(text).unwrap_err();
        assert_eq!(r.line, line, "{text:?}: {r}");
        assert!(r.what.contains(cmd), "{text:?}: {r}");
    }
    // After COPY data, psql reads commands again.
    let after = "COPY t (a) FROM stdin;\n1\n\\.\n\\! id\n";
    assert_eq!(pg(after).unwrap_err().line, 4);
    // In COPY data, only COPY's escapes: a meta-command there would run if the COPY failed.
    let data = "COPY t (a) FROM stdin;\n1\n\\! id\n\\.\n";
    assert!(pg(data).unwrap_err().what.contains("COPY data"));
    let data = "COPY t (a) FROM stdin;\n1\t\\o /tmp/x\n\\.\n";
    assert!(pg(data).is_err());
    // Nothing may follow COPY's `;` on its line.
    assert!(pg("COPY t FROM stdin; \\! id\n1\n\\.\n").is_err());
}

#[test]
fn quotes_and_comments_hide_backslashes_as_psql_sees_them() {
    pg("SELECT '\\! no', \"a\\!b\", $$ \\! no $$, $q$ $$ \\! $q$; -- \\! no\n").unwrap();
    pg("SELECT E'it\\'s \\! no';\n").unwrap();
    pg("SELECT $1, a$b, 'x';\n").unwrap();
    // With standard_conforming_strings off, 'a\' does not end the string, so psql would
    // read the `\!` below as outside of it: refused.
    let text =
        "SET standard_conforming_strings = off;\nSELECT 'a\\' ; ' \\! touch /tmp/pwned\n';\n";
    assert!(pg(text).unwrap_err().what.contains("\\!"));
    // And the other way round.
    let text = "SELECT 'a\\' \\! touch /tmp/pwned ';\n";
    assert!(pg(text).is_err());
}

const MYSQLDUMP: &str = "/*M!999999\\- enable the sandbox mode */ \n\
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB\n\
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n\
/*!40101 SET NAMES utf8mb4 */;\n\
DROP TABLE IF EXISTS `accounts`;\n\
CREATE TABLE `accounts` (\n\
  `id` bigint(20) NOT NULL AUTO_INCREMENT,\n\
  `status` varchar(255) DEFAULT NULL,\n\
  `source` text,\n\
  PRIMARY KEY (`id`)\n\
) ENGINE=InnoDB;\n\
LOCK TABLES `accounts` WRITE;\n\
INSERT INTO `accounts` VALUES (1,'it\\'s \\\\ \\r\\n \\0 \\Z \\\" # -- /* \\\\! x',NULL),(2,'dq \\\" ok','');\n\
UNLOCK TABLES;\n\
DELIMITER ;;\n\
/*!50003 CREATE*/ /*!50003 TRIGGER t BEFORE INSERT ON accounts FOR EACH ROW BEGIN\n\
  SET NEW.status = 'x';\n\
  status_check: BEGIN END;\n\
END */;;\n\
DELIMITER ;\n\
# a comment \\! no\n\
-- \\! no\n\
SELECT 1; -- done\n";

#[test]
fn mysqldump_output_passes() {
    my(MYSQLDUMP).unwrap();
}

#[test]
fn mysql_client_commands_are_refused() {
    for (text, line, cmd) in [
        ("SELECT 1;\n\\! touch /tmp/pwned\n", 2, "\\!"),
        ("SELECT 1; \\! touch /tmp/pwned\n", 1, "\\!"),
        ("system touch /tmp/pwned\n", 1, "system"),
        ("  SYSTEM touch /tmp/pwned\n", 1, "SYSTEM"),
        ("SELECT 1;\nsource /etc/passwd\n", 2, "source"),
        ("tee /tmp/x\n", 1, "tee"),
        ("pager sh\n", 1, "pager"),
        ("\\. /etc/passwd\n", 1, "\\."),
        ("SELECT 1 /*!50000 \\! id */;\n", 1, "\\!"),
        ("DELIMITER ;;\nsystem id\n", 2, "system"),
    ] {
        let r = my(text).unwrap_err();
        assert_eq!(r.line, line, "{text:?}: {r}");
        assert!(r.what.contains(cmd), "{text:?}: {r}");
    }
    // A statement's second line is not a command line.
    my("SELECT\nstatus FROM t;\n").unwrap();
    // A delimiter the check cannot follow.
    assert!(my("DELIMITER ab\n").is_err());
}

#[test]
fn every_reading_of_quotes_is_checked() {
    // Under NO_BACKSLASH_ESCAPES, 'a\' ends at the second quote and `\!` runs.
    assert!(my("SELECT 'a\\' \\! touch /tmp/pwned ';\n").is_err());
    // Under ANSI_QUOTES likewise for "a\".
    assert!(my("SELECT \"a\\\" \\! touch /tmp/pwned \";\n").is_err());
    // Older clients took `a\` as escaping the backtick.
    assert!(my("SELECT `a\\` '` \\! touch /tmp/pwned ';\n").is_err());
}

#[tokio::test]
async fn the_stream_never_hands_on_a_command() {
    let text = "SELECT 1;\nSELECT 2; \\! touch /tmp/pwned\nSELECT 3;\n";
    let mut r = GuardedRead::new(text.as_bytes(), Guard::new(Content::MysqlDump));
    let mut out = Vec::new();
    let mut buf = [0u8; 7];
    let err = loop {
        match r.read(&mut buf).await {
            Ok(0) => panic!("not refused"),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert!(err.to_string().contains("line 2"), "{err}");
    let out = String::from_utf8(out).unwrap();
    assert!(!out.contains('\\'), "{out}");

    let mut r = GuardedRead::new(PG_DUMP.as_bytes(), Guard::new(Content::PostgresqlDump));
    let mut out = String::new();
    r.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, format!("\\set ON_ERROR_STOP on\n{PG_DUMP}"));
}

#[test]
fn long_lines_stream_with_bounded_holding() {
    let mut g = Guard::new(Content::MysqlDump);
    g.feed(b"INSERT INTO t VALUES ('").unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..8 {
        assert_eq!(g.feed(&chunk).unwrap(), 0);
    }
    g.feed(b"');\n").unwrap();
    let mut g = Guard::new(Content::PostgresqlDump);
    g.feed(b"COPY t FROM stdin;\n").unwrap();
    for _ in 0..8 {
        assert_eq!(g.feed(&chunk).unwrap(), 0);
    }
    g.feed(b"\n\\.\n").unwrap();
    g.finish().unwrap();
    let mut g = Guard::new(Content::PostgresqlDump);
    let long = format!("\\restrict {}\n", "a".repeat(4096));
    assert!(g.feed(long.as_bytes()).is_err());
}
