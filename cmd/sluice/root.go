package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sluice-backup/sluice/backends"
	"github.com/sluice-backup/sluice/pipeline"
)

// env is what commands read from and write to; tests swap it.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	registry       *pipeline.Registry
	// json, when set, learns whether the command runs with --json once
	// its flags are parsed, for messages printed outside it (signals).
	json *atomic.Bool
}

func (e *env) reg() *pipeline.Registry {
	if e.registry != nil {
		return e.registry
	}
	return pipeline.Default
}

// globalFlags are shared by every command.
type globalFlags struct {
	config   string
	logLevel string

	level slog.Level // logLevel, parsed by logger
	route *logRouter // behind the logger that logger made last
}

func newRootCmd(e *env) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "sluice",
		Short: "Compress, encrypt and stream backups to object stores, and restore them",
		Long: `sluice reads a file, a directory or stdin, compresses it, encrypts it and
streams it to one or more object stores (S3, GCS, Azure, local folders),
and restores it. Objects are plain standard formats: tar, zstd, age.

Every flag can also be set with an environment variable: SLUICE_ followed
by the flag name in capitals with "-" as "_" (SLUICE_COMPRESS=gzip).
Flags given on the command line win.

Exit status: 0 success; 1 failure; 2 usage or config error (a missing or
unknown command too); 3 some targets failed, others succeeded.`,
		SilenceUsage:               true,
		SilenceErrors:              true,
		SuggestionsMinimumDistance: 2,
		// cobra treats a missing command as a request for help (status 0)
		// and an unknown one as a plain failure (status 1); here both are
		// usage errors, with the usage on stderr.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q", args[0])
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
			}
			return usageErrorf("%s; see %s --help", msg, cmd.CommandPath())
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprint(e.stderr, cmd.UsageString())
			return usageErrorf("no command given; see %s --help", cmd.CommandPath())
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := applyEnv(cmd); err != nil {
				return err
			}
			if err := checkConfigFlag(cmd, args); err != nil {
				return err
			}
			// Every command, also those that log nothing today, so
			// that a value a wrapper gives them all is checked once;
			// help and shell completion work whatever it is.
			if !helpOrCompletion(cmd) {
				if err := g.parseLevel(); err != nil {
					return err
				}
			}
			if e.json != nil {
				e.json.Store(jsonMode(cmd))
			}
			return nil
		},
	}
	// Help asked for (--help, -h, sluice help) goes to stdout, so that
	// `sluice --help | less` works; errors, and the usage printed with
	// them, go to stderr. Usage is not printed on errors (SilenceUsage):
	// the error names the fix and says where help is.
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	// The root runs only to report that no command was given: its usage
	// does not offer "sluice [flags]" as a command line of its own.
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable .HasParent}}", 1))
	// cobra's help command prints usage and exits 0 for a topic that is
	// not a command; here that is a usage error, like an unknown command.
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || cmd == nil || (cmd == c.Root() && len(rest) > 0) {
				return usageErrorf("unknown help topic %q; see %s --help", strings.Join(args, " "), c.Root().CommandPath())
			}
			return cmd.Help()
		},
	})
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%v (see %s --help)", err, c.CommandPath())
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.config, "config", "", "config file (default ./sluice.yaml, then $XDG_CONFIG_HOME/sluice/config.yaml)")
	pf.StringVar(&g.logLevel, "log-level", "info", "log detail on stderr: debug, info, warn or error")
	root.AddCommand(
		newBackupCmd(e, g),
		newRestoreCmd(e, g),
		newKeygenCmd(e),
		newRunCmd(e, g),
		newListCmd(e, g),
		newVerifyCmd(e, g),
		newPruneCmd(e, g),
		newConfigCmd(e, g),
		newPluginsCmd(e),
	)
	return root
}

// configCommands are the commands that read the config file.
var configCommands = []string{"run", "list", "verify", "prune", "config"}

// topCommand returns the command under the root that cmd is or is under
// (config for config show), or the root itself.
func topCommand(cmd *cobra.Command) *cobra.Command {
	for cmd.HasParent() && cmd.Parent().HasParent() {
		cmd = cmd.Parent()
	}
	return cmd
}

// helpOrCompletion reports whether cmd is help or serves shell
// completion (completion, and cobra's hidden __complete commands).
func helpOrCompletion(cmd *cobra.Command) bool {
	switch topCommand(cmd).Name() {
	case "help", "completion", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
		return true
	}
	return false
}

// checkConfigFlag refuses --config typed for a command that reads no
// config file (backup, restore, keygen, plugins; list and verify given a
// URL in args rather than a pipeline name) when the file does not exist:
// a typo the command would otherwise hide. An existing file is left
// unused, as the global flag may be given to every command (an alias, a
// wrapper script), and so is SLUICE_CONFIG, which may be exported for
// every command.
func checkConfigFlag(cmd *cobra.Command, args []string) error {
	f := cmd.Flags().Lookup("config")
	if f == nil || !f.Changed || flagEnvOf(f) != "" {
		return nil
	}
	top := topCommand(cmd)
	byURL := (top.Name() == "list" || top.Name() == "verify") && len(args) == 1 && isURLArg(args[0])
	switch name := top.Name(); {
	case !top.HasParent(), helpOrCompletion(cmd), slices.Contains(configCommands, name) && !byURL:
		return nil
	}
	if _, err := os.Stat(f.Value.String()); err == nil {
		return nil
	}
	if byURL {
		return usageErrorf("--config %s: no such file (%s given a URL reads no config file; only a pipeline name is looked up there)", f.Value.String(), top.CommandPath())
	}
	return usageErrorf("--config %s: no such file (%s reads no config file; only %s do)", f.Value.String(), top.CommandPath(), strings.Join(configCommands, ", "))
}

// envAnnotation marks a flag that applyEnv set; its value is the
// variable's name.
const envAnnotation = "sluice-env"

// noEnvAnnotation marks a flag that applyEnv leaves alone (see noEnv).
const noEnvAnnotation = "sluice-no-env"

// noEnv keeps applyEnv from setting flag name of fs: its SLUICE_ name
// belongs to another command's flag of the same name that means
// something else (restore --to is a local path, SLUICE_TO lists backup
// targets), and a variable exported for that command must not steer
// this one.
func noEnv(fs *pflag.FlagSet, name string) {
	if err := fs.SetAnnotation(name, noEnvAnnotation, []string{"true"}); err != nil {
		panic(err) // a flag that was never defined: a programmer error
	}
}

// applyEnv sets every flag the command line left unset from its
// SLUICE_<NAME> environment variable, and marks it (envAnnotation) so
// that later errors about its value can name the variable (see
// blameEnv). Flags marked by noEnv are not read from the environment.
func applyEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || len(f.Annotations[noEnvAnnotation]) > 0 {
			return
		}
		name := flagEnvName(f.Name)
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if sv, isSlice := f.Value.(pflag.SliceValue); isSlice {
			err = sv.Replace(splitComma(v))
		} else {
			err = f.Value.Set(v)
		}
		if err != nil {
			err = usageErrorf("environment %s: %v", name, err)
			return
		}
		f.Changed = true
		if f.Annotations == nil {
			f.Annotations = map[string][]string{}
		}
		f.Annotations[envAnnotation] = []string{name}
	})
	return err
}

// flagEnvName is the environment variable for the flag name:
// SLUICE_ and the name in capitals with "-" as "_".
func flagEnvName(name string) string {
	return "SLUICE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// flagEnvOf names the variable that set f (see applyEnv), or "" when f
// is nil, was typed or not given.
func flagEnvOf(f *pflag.Flag) string {
	if f == nil {
		return ""
	}
	if v := f.Annotations[envAnnotation]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// blameEnv prefixes err with the environment variables that set flags its
// message names ("environment SLUICE_COMPRESS: --compress "lz4": ..."),
// so that an error in a value nobody typed says where the value came
// from. The exit status stays err's.
func blameEnv(cmd *cobra.Command, err error) error {
	if cmd == nil || err == nil {
		return err
	}
	msg := err.Error()
	var vars []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if v := f.Annotations[envAnnotation]; len(v) > 0 && namesFlag(msg, f.Name) {
			vars = append(vars, v[0])
		}
	})
	if len(vars) == 0 {
		return err
	}
	return &exitError{code: exitCode(err), err: fmt.Errorf("environment %s: %w", strings.Join(vars, ", "), err)}
}

// namesFlag reports whether msg mentions the flag --name as a whole word
// (--compress, not --compress-level).
func namesFlag(msg, name string) bool {
	word := func(c byte) bool {
		return c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	flag := "--" + name
	for i := 0; ; {
		j := strings.Index(msg[i:], flag)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(flag)
		if (start == 0 || !word(msg[start-1])) && (end == len(msg) || !word(msg[end])) {
			return true
		}
		i = end
	}
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// withLogger returns ctx carrying the command's logger (see logger) for
// the targets it opens: S3 retries, the AWS SDK's own messages.
func withLogger(ctx context.Context, e *env, g *globalFlags, asJSON bool) (context.Context, error) {
	log, err := g.logger(e.stderr, asJSON)
	if err != nil {
		return ctx, err
	}
	return backends.WithLogger(ctx, log), nil
}

// divertLogs sends the records of the logger that logger made to h
// until restore is called; a nil h changes nothing.
func (g *globalFlags) divertLogs(h slog.Handler) (restore func()) {
	if h == nil || g.route == nil {
		return func() {}
	}
	return g.route.divert(h)
}

// parseLevel sets level from --log-level; a value that is not a level
// is a usage error.
func (g *globalFlags) parseLevel() error {
	if err := g.level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return usageErrorf("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	return nil
}

// logger returns the stderr logger at the configured level: text, or
// with asJSON (a command's --json, whose stderr holds only JSON lines)
// slog's JSON records.
//
// Its records can be diverted while a backup runs (see storeBackup), and
// every logger derived from it, the targets' included, follows.
func (g *globalFlags) logger(w io.Writer, asJSON bool) (*slog.Logger, error) {
	if err := g.parseLevel(); err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: g.level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if asJSON {
		h = slog.NewJSONHandler(w, opts)
	}
	route, log := newLogRouter(h)
	g.route = route
	return log, nil
}

func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
