//! A plugin built against a future contract, host:plugin@3.0.0: the host must refuse it
//! by reading its imports, before running anything.

wit_bindgen::generate!({
    inline: r#"
        package host:plugin@3.0.0;
        interface log {
            info: func(message: string);
        }
        world plugin {
            import log;
            export describe: func() -> string;
            export backup: func() -> result<_, string>;
            export quiesce: func() -> result<_, string>;
            export restore: func() -> result<_, string>;
            export resume: func() -> result<_, string>;
        }
    "#,
});

struct Future;

impl Guest for Future {
    fn describe() -> String {
        String::new()
    }
    fn backup() -> Result<(), String> {
        host::plugin::log::info("a plugin from the future");
        Ok(())
    }
    fn quiesce() -> Result<(), String> {
        Ok(())
    }
    fn restore() -> Result<(), String> {
        Ok(())
    }
    fn resume() -> Result<(), String> {
        Ok(())
    }
}

export!(Future);
