//! The expression language: documented examples, precedence, functions, clamping,
//! every error message, the size limits, and random expressions against a tree model.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::retry::default_backoff;

fn expr(src: &str) -> RetryDelayExpr {
    RetryDelayExpr::parse(src).unwrap_or_else(|e| panic!("{src:?} should parse: {e}"))
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

#[test]
fn documented_expressions() {
    // (expression, delays for retried = 0, 1, 2, ...)
    let table: &[(&str, &[Duration])] = &[
        ("1000 * (1 + retried)", &[ms(1_000), ms(2_000), ms(3_000)]),
        (
            "pow(2, retried) * 1000",
            &[ms(1_000), ms(2_000), ms(4_000), ms(8_000), ms(16_000)],
        ),
        ("5000", &[ms(5_000), ms(5_000), ms(5_000)]),
        ("retried * 1000", &[Duration::ZERO, ms(1_000), ms(2_000)]),
        (
            "min(pow(2, retried) * 1000, 3000)",
            &[ms(1_000), ms(2_000), ms(3_000), ms(3_000)],
        ),
        (
            "max(1000, retried * 500)",
            &[ms(1_000), ms(1_000), ms(1_000), ms(1_500)],
        ),
    ];
    for (src, delays) in table {
        let e = expr(src);
        for (retried, want) in delays.iter().enumerate() {
            assert_eq!(
                e.delay(retried as u32),
                *want,
                "{src} with retried = {retried}"
            );
        }
    }
}

#[test]
fn default_backoff_written_as_an_expression_agrees() {
    let e = expr("exp(2.5 * (retried + 1)) * 1000");
    for retried in 0..8 {
        let a = e.delay(retried).as_millis();
        let b = default_backoff(retried, 1.0).as_millis();
        assert!(a.abs_diff(b) <= 1, "retried = {retried}: {a} vs {b}");
    }
}

#[test]
fn precedence_and_associativity() {
    // (expression, raw value with retried = 3)
    let table: &[(&str, f64)] = &[
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("2 * 3 + 1", 7.0),
        ("10 - 4 - 3", 3.0),
        ("10 - (4 - 3)", 9.0),
        ("100 / 10 / 2", 5.0),
        ("8 / 4 * 2", 4.0),
        ("2 - 3 + 4", 3.0),
        ("1 + 6 / 2 - 1", 3.0),
        ("-2 * 3", -6.0),
        ("2 * -3", -6.0),
        ("-2 + 3", 1.0),
        ("--4", 4.0),
        ("1 - -1", 2.0),
        ("-(2 + 3)", -5.0),
        ("-retried", -3.0),
        ("-pow(2, 2)", -4.0),
        ("1000 * retried + 1", 3001.0),
        ("((((retried))))", 3.0),
        ("pow(2, 1 + 2) * 10", 80.0),
        ("min(1, 2) + max(1, 2) * 2", 5.0),
        // Whitespace anywhere, or nowhere.
        ("1+2*3", 7.0),
        ("  1 +\t2 *\n3 ", 7.0),
        ("pow ( 2 , 3 )", 8.0),
        // Decimals.
        ("1.5 * 2", 3.0),
        (".5 + 1.", 1.5),
    ];
    for (src, want) in table {
        assert_eq!(expr(src).eval(3), *want, "{src}");
    }
}

#[test]
fn functions() {
    // (expression, raw value with retried = 0)
    let table: &[(&str, f64)] = &[
        ("pow(2, 10)", 1024.0),
        ("pow(4, 0.5)", 2.0),
        ("exp(0)", 1.0),
        ("sqrt(16)", 4.0),
        ("abs(-5)", 5.0),
        ("abs(5)", 5.0),
        ("floor(1.7)", 1.0),
        ("floor(-1.2)", -2.0),
        ("ceil(1.2)", 2.0),
        ("ceil(-1.7)", -1.0),
        ("round(2.4)", 2.0),
        ("round(2.5)", 3.0),
        ("round(-2.5)", -3.0),
        ("min(3, 4)", 3.0),
        ("max(3, 4)", 4.0),
        ("max(1000, min(pow(2, retried) * 1000, 60000))", 1000.0),
    ];
    for (src, want) in table {
        assert_eq!(expr(src).eval(0), *want, "{src}");
    }
    assert_eq!(expr("exp(1)").eval(0), std::f64::consts::E);
}

#[test]
fn delays_are_clamped_to_zero_and_one_day() {
    let day = MAX_RETRY_DELAY;
    let table: &[(&str, Duration)] = &[
        ("-1000", Duration::ZERO),
        ("0", Duration::ZERO),
        ("-0", Duration::ZERO),
        ("0.9", Duration::ZERO),
        ("1500.9", ms(1_500)),
        ("86400000", day),
        ("86399999.5", ms(86_399_999)),
        ("86400001", day),
        ("99999999999999999999", day),
        ("exp(1000)", day),
        ("1 / 0", day),
        ("-1 / 0", Duration::ZERO),
        ("0 / 0", Duration::ZERO),
        ("sqrt(-1)", Duration::ZERO),
        ("exp(1000) - exp(1000)", Duration::ZERO),
    ];
    for (src, want) in table {
        assert_eq!(expr(src).delay(0), *want, "{src}");
    }
    assert_eq!(expr("retried * 1000").delay(u32::MAX), day);
}

#[test]
fn check_refuses_delays_that_a_retry_would_reach() {
    const NEG: &str = "; it must be 0 or more";
    const INF: &str = "is infinite; it must be a finite number of milliseconds";
    #[rustfmt::skip]
    let table: &[(&str, u32, Option<String>)] = &[
        // (expression, retries, None if accepted, else the message after "the delay for ")
        ("1000 * (1 + retried)",          3,   None),
        ("pow(2, retried) * 1000",        100, None),
        ("max(0, 1000 - retried * 2000)", 100, None),
        ("0",                             5,   None),
        ("-0",                            5,   None),
        ("0.5",                           5,   None),
        // Above a day is capped by delay(), as documented, so it is fine here.
        ("99999999999999999999",          5,   None),
        ("retried * 100000000",           100, None),
        // No retries, nothing to compute.
        ("0 - 1",                         0,   None),
        ("0 / 0",                         0,   None),
        // Negative from some retried value on; the first one is reported.
        ("0 - 1",                         1,   Some(format!("retried = 0 is -1 ms{NEG}"))),
        ("1000 - retried * 2000",         1,   None),
        ("1000 - retried * 2000",         2,   Some(format!("retried = 1 is -1000 ms{NEG}"))),
        ("1000 - retried * 2000",         100, Some(format!("retried = 1 is -1000 ms{NEG}"))),
        ("retried - 2.5",                 5,   Some(format!("retried = 0 is -2.5 ms{NEG}"))),
        ("1 / (retried - 1)",             3,   Some(format!("retried = 0 is -1 ms{NEG}"))),
        // Huge and tiny magnitudes keep the message short.
        ("0 - pow(10, 300)",              1,   Some(format!("retried = 0 is -1e300 ms{NEG}"))),
        ("0 - 1 / pow(10, 300)",          1,   Some(format!("retried = 0 is -1e-300 ms{NEG}"))),
        // Not a number.
        ("sqrt(0 - 1)",                   1,   Some("retried = 0 is not a number".into())),
        ("0 / 0",                         1,   Some("retried = 0 is not a number".into())),
        ("sqrt(retried - 2)",             2,   Some("retried = 0 is not a number".into())),
        // The last value checked is retried = retries - 1.
        ("sqrt(2 - retried)",             3,   None),
        ("sqrt(2 - retried)",             4,   Some("retried = 3 is not a number".into())),
        // Infinite, either way.
        ("1000 / (3 - retried)",          3,   None),
        ("1000 / (3 - retried)",          4,   Some(format!("retried = 3 {INF}"))),
        ("abs(1 / (retried - 1))",        2,   Some(format!("retried = 1 {INF}"))),
        ("exp(1000)",                     1,   Some(format!("retried = 0 {INF}"))),
        ("0 - 1 / 0",                     1,   Some(format!("retried = 0 is minus infinity{NEG}"))),
    ];
    for (src, retries, want) in table {
        let got = expr(src).check(*retries).map_err(|e| e.to_string());
        let want = match want {
            None => Ok(()),
            Some(m) => Err(format!("the delay for {m}")),
        };
        assert_eq!(got, want, "{src} with retries = {retries}");
    }
    assert_eq!(
        expr("1000 - retried * 2000").check(2),
        Err(RetryExprError::InvalidDelay {
            retried: 1,
            value: -1000.0
        })
    );
    // check() only reports; delay() still clamps, so delivery is unchanged.
    assert_eq!(expr("1000 - retried * 2000").delay(1), Duration::ZERO);
    assert_eq!(expr("1000 / (3 - retried)").delay(3), MAX_RETRY_DELAY);
}

#[test]
fn source_is_kept_trimmed() {
    let e = expr("  1000 * (1 + retried)\n");
    assert_eq!(e.source(), "1000 * (1 + retried)");
    assert_eq!(e.to_string(), "1000 * (1 + retried)");
    let parsed: RetryDelayExpr = " 5 ".parse().unwrap();
    assert_eq!(parsed.source(), "5");
}

#[test]
fn every_error() {
    // `{known}` stands for the list of functions, derived from the function table so the
    // message cannot drift from what the parser accepts.
    #[rustfmt::skip]
    let table: &[(&str, &str)] = &[
        // (expression, message)
        ("",               "empty expression"),
        (" \t\n",          "empty expression"),
        ("1 +",            "unexpected end of expression, expected a value"),
        ("-",              "unexpected end of expression, expected a value"),
        ("pow(",           "unexpected end of expression, expected a value"),
        ("(1 + 2",         r#"unexpected end of expression, expected ")""#),
        ("pow(2, 3",       r#"unexpected end of expression, expected "," or ")""#),
        ("foo(1)",         r#"unknown function "foo" at 1 {known}"#),
        ("1 + POW(2, 3)",  r#"unknown function "POW" at 5 {known}"#),
        ("retried(1)",     r#"unknown function "retried" at 1 {known}"#),
        ("x",              r#"unknown variable "x" at 1 (only "retried" is allowed)"#),
        ("1000 * retries", r#"unknown variable "retries" at 8 (only "retried" is allowed)"#),
        ("Retried",        r#"unknown variable "Retried" at 1 (only "retried" is allowed)"#),
        ("sqrt + 1",       r#"function "sqrt" at 1 must be called with arguments in parentheses"#),
        ("pow(2)",         r#"function "pow" at 1 takes 2 arguments, got 1"#),
        ("pow(1, 2, 3)",   r#"function "pow" at 1 takes 2 arguments, got 3"#),
        ("min(1)",         r#"function "min" at 1 takes 2 arguments, got 1"#),
        ("1 + exp()",      r#"function "exp" at 5 takes 1 argument, got 0"#),
        ("sqrt(1, 2)",     r#"function "sqrt" at 1 takes 1 argument, got 2"#),
        ("1 2",            r#"expected an operator or the end of the expression, found "2" at 3"#),
        ("(1))",           r#"expected an operator or the end of the expression, found ")" at 4"#),
        ("2 retried",      r#"expected an operator or the end of the expression, found "retried" at 3"#),
        ("1e3",            r#"expected an operator or the end of the expression, found "e3" at 2"#),
        ("()",             r#"expected a value, found ")" at 2"#),
        ("1 * * 2",        r#"expected a value, found "*" at 5"#),
        ("pow(1,)",        r#"expected a value, found ")" at 7"#),
        ("+1",             r#"expected a value, found "+" at 1"#),
        ("pow(1 2)",       r#"expected "," or ")", found "2" at 7"#),
        ("(1, 2)",         r#"expected ")", found "," at 3"#),
        ("2 ^ 3",          "unexpected character '^' at 3"),
        ("10 % 3",         "unexpected character '%' at 4"),
        ("1 + é",          "unexpected character 'é' at 5"),
        ("é + #",          "unexpected character 'é' at 1"),
        ("1.2.3",          r#"invalid number "1.2.3" at 1"#),
        ("1 + .",          r#"invalid number "." at 5"#),
    ];
    let names: Vec<&str> = Func::ALL.iter().map(|f| f.name()).collect();
    let known = format!("(known functions: {})", names.join(", "));
    for (src, want) in table {
        match RetryDelayExpr::parse(src) {
            Err(e) => assert_eq!(e.to_string(), want.replace("{known}", &known), "{src:?}"),
            Ok(e) => panic!("{src:?} should not parse, got {e:?}"),
        }
    }
}

#[test]
fn size_and_depth_limits() {
    let nested = |levels: usize, open: &str, close: &str| {
        format!("{}1{}", open.repeat(levels), close.repeat(levels))
    };
    let too_deep = RetryExprError::TooDeep {
        pos: MAX_EXPR_DEPTH + 1,
        max: MAX_EXPR_DEPTH,
    };
    // (expression, result)
    let table: Vec<(String, Result<f64, RetryExprError>)> = vec![
        (nested(MAX_EXPR_DEPTH, "(", ")"), Ok(1.0)),
        (nested(MAX_EXPR_DEPTH + 1, "(", ")"), Err(too_deep.clone())),
        (nested(MAX_EXPR_DEPTH, "-", ""), Ok(1.0)),
        (nested(MAX_EXPR_DEPTH + 1, "-", ""), Err(too_deep.clone())),
        (
            nested(MAX_EXPR_DEPTH + 1, "abs(", ")"),
            Err(RetryExprError::TooDeep {
                pos: 4 * MAX_EXPR_DEPTH + 1,
                max: MAX_EXPR_DEPTH,
            }),
        ),
        // Long flat chains are fine: depth counts nesting, not length.
        (
            format!("1{}", "+1".repeat((MAX_EXPR_LEN - 1) / 2)),
            Ok(512.0),
        ),
        (
            "1".repeat(MAX_EXPR_LEN + 1),
            Err(RetryExprError::TooLong {
                len: MAX_EXPR_LEN + 1,
                max: MAX_EXPR_LEN,
            }),
        ),
        // The length limit applies before anything else is looked at.
        (
            "(".repeat(100_000),
            Err(RetryExprError::TooLong {
                len: 100_000,
                max: MAX_EXPR_LEN,
            }),
        ),
        // Surrounding whitespace does not count.
        (
            format!("{}1{}", " ".repeat(5_000), " ".repeat(5_000)),
            Ok(1.0),
        ),
    ];
    for (src, want) in table {
        let got = RetryDelayExpr::parse(&src).map(|e| e.eval(0));
        assert_eq!(
            got,
            want,
            "{} bytes starting {:?}",
            src.len(),
            &src[..src.len().min(20)]
        );
    }
    assert_eq!(
        too_deep.to_string(),
        "expression nested too deeply at 65 (the limit is 64 levels)"
    );
    assert_eq!(
        RetryExprError::TooLong {
            len: 2000,
            max: 1024
        }
        .to_string(),
        "expression too long: 2000 bytes (the limit is 1024)"
    );
}

/// Token soup: mostly-valid fragments glued together, to reach deep parser states that
/// uniformly random strings rarely do.
fn token_soup() -> impl Strategy<Value = String> {
    let tokens = vec![
        "1", "2.5", "0", "1000", ".5", "retried", "x", "+", "-", "*", "/", "(", ")", ",", " ",
        "pow", "exp", "sqrt", "abs", "floor", "ceil", "round", "min", "max", "1.2.3", "^", "é",
    ];
    prop::collection::vec(prop::sample::select(tokens), 0..48).prop_map(|v| v.concat())
}

/// A random well-formed expression tree, with its value computed independently of the
/// parser.
#[derive(Debug, Clone)]
enum Tree {
    Num(u16),
    Retried,
    Neg(Box<Tree>),
    Bin(char, Box<Tree>, Box<Tree>),
    Call(&'static str, Vec<Tree>),
}

impl Tree {
    /// Rendered with the fewest parentheses the grammar needs (so precedence and
    /// associativity are exercised), `parent` being the binding power around it and
    /// `right` whether it is a right operand.
    fn render(&self, parent: u8, right: bool) -> String {
        match self {
            Tree::Num(n) => n.to_string(),
            Tree::Retried => "retried".to_owned(),
            Tree::Neg(t) => format!("-{}", t.render(UNARY, false)),
            Tree::Bin(op, a, b) => {
                let power = if matches!(op, '+' | '-') {
                    ADDITIVE
                } else {
                    MULTIPLICATIVE
                };
                let text = format!("{} {op} {}", a.render(power, false), b.render(power, true));
                if power < parent || (power == parent && right) {
                    format!("({text})")
                } else {
                    text
                }
            }
            Tree::Call(name, args) => {
                let args: Vec<String> = args.iter().map(|a| a.render(0, false)).collect();
                format!("{name}({})", args.join(", "))
            }
        }
    }

    fn value(&self, retried: f64) -> f64 {
        match self {
            Tree::Num(n) => f64::from(*n),
            Tree::Retried => retried,
            Tree::Neg(t) => -t.value(retried),
            Tree::Bin(op, a, b) => {
                let (a, b) = (a.value(retried), b.value(retried));
                match op {
                    '+' => a + b,
                    '-' => a - b,
                    '*' => a * b,
                    _ => a / b,
                }
            }
            Tree::Call(name, args) => {
                let f = Func::lookup(name).unwrap();
                let x = args[0].value(retried);
                let y = args.get(1).map_or(f64::NAN, |a| a.value(retried));
                f.apply(x, y)
            }
        }
    }
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![(0u16..2000).prop_map(Tree::Num), Just(Tree::Retried)];
    leaf.prop_recursive(5, 40, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| Tree::Neg(Box::new(t))),
            (
                prop::sample::select(vec!['+', '-', '*', '/']),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(op, a, b)| Tree::Bin(op, Box::new(a), Box::new(b))),
            (
                prop::sample::select(Func::ALL.to_vec()),
                inner.clone(),
                inner
            )
                .prop_map(|(f, a, b)| {
                    let args = if f.arity() == 2 { vec![a, b] } else { vec![a] };
                    Tree::Call(f.name(), args)
                }),
        ]
    })
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

proptest! {
    #[test]
    fn expression_parser_never_panics(src in ".*") {
        match RetryDelayExpr::parse(&src) {
            Ok(e) => {
                for retried in [0, 1, 7, u32::MAX] {
                    prop_assert!(e.delay(retried) <= MAX_RETRY_DELAY);
                }
            }
            Err(err) => prop_assert!(!err.to_string().contains('\n')),
        }
    }

    #[test]
    fn expression_parser_never_panics_on_token_soup(src in token_soup()) {
        match RetryDelayExpr::parse(&src) {
            Ok(e) => {
                for retried in [0, 1, 7, u32::MAX] {
                    prop_assert!(e.delay(retried) <= MAX_RETRY_DELAY);
                }
            }
            Err(err) => prop_assert!(!err.to_string().contains('\n')),
        }
    }

    #[test]
    fn check_accepts_exactly_the_finite_non_negative_delays(t in tree(), retries in 0u32..8) {
        let src = t.render(0, false);
        let e = RetryDelayExpr::parse(&src)
            .map_err(|err| TestCaseError::fail(format!("{src}: {err}")))?;
        let usable = (0..retries).all(|r| {
            let v = t.value(f64::from(r));
            v.is_finite() && v >= 0.0
        });
        prop_assert_eq!(e.check(retries).is_ok(), usable, "{}", src);
    }

    #[test]
    fn parsed_expressions_evaluate_like_the_tree(t in tree(), retried in 0u32..20) {
        let src = t.render(0, false);
        let e = RetryDelayExpr::parse(&src)
            .map_err(|err| TestCaseError::fail(format!("{src}: {err}")))?;
        let (got, want) = (e.eval(retried), t.value(f64::from(retried)));
        prop_assert!(same(got, want), "{} = {} but the tree says {}", src, got, want);
    }
}
