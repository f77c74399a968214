//! `host completion SHELL` and `host man`: the shell's completions and the man pages,
//! made from the CLI's own definition so they never drift from `--help`.

use std::path::Path;

use clap::CommandFactory;

use host::error::Error;

use crate::cli::Cli;

pub fn completion(shell: clap_complete::Shell) -> Result<u8, Error> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "host", &mut std::io::stdout());
    Ok(0)
}

pub fn man(out: Option<&Path>) -> Result<u8, Error> {
    let command = Cli::command();
    match out {
        None => match clap_mangen::Man::new(command).render(&mut std::io::stdout()) {
            // `host man | head`: the reader had enough.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            r => r.map_err(|e| Error::io(Path::new("stdout"), e))?,
        },
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            // host.1, then host-backup.1 and so on, as `man host-backup` finds them.
            clap_mangen::generate_to(command, dir).map_err(|e| Error::io(dir, e))?;
            println!("wrote the man pages into {}", dir.display());
        }
    }
    Ok(0)
}
