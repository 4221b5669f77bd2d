package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sluice-backup/sluice/pipeline"
)

// pluginOption is one option in `sluice plugins --json`.
type pluginOption struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Default  string `json:"default,omitempty"`
	Help     string `json:"help"`
	Secret   bool   `json:"secret,omitempty"`
	Required bool   `json:"required,omitempty"`
	// Locates marks a backend option printed target and object URLs keep.
	Locates bool `json:"locates,omitempty"`
}

type pluginStage struct {
	Name      string         `json:"name"`
	Kind      string         `json:"kind"`
	Extension string         `json:"extension,omitempty"`
	Help      string         `json:"help"`
	Options   []pluginOption `json:"options"`
}

type pluginBackend struct {
	Scheme  string         `json:"scheme"`
	Help    string         `json:"help"`
	Options []pluginOption `json:"options"`
}

func newPluginsCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "List stages and backends with their options",
		Long: `List the registered stages and backends with their options, from the
records the plugins register. Stage options go in a pipeline's stages
(- zstd: {level: 19}), in -o STAGE.OPTION=VALUE, or in
SLUICE_PIPELINES_<NAME>_STAGES_<STAGE>_<OPTION>; backend options go in a
target's URL query or beside its url in the config.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			stages, backends := pluginRecords(e.reg())
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"stages": stages, "backends": backends})
			}
			printPlugins(e.stdout, stages, backends)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func pluginRecords(reg *pipeline.Registry) ([]pluginStage, []pluginBackend) {
	stages := []pluginStage{}
	for _, s := range reg.Stages() {
		stages = append(stages, pluginStage{Name: s.Name, Kind: string(s.Kind), Extension: s.Extension, Help: s.Help, Options: pluginOptions(s.Options)})
	}
	backends := []pluginBackend{}
	for _, b := range reg.Backends() {
		backends = append(backends, pluginBackend{Scheme: b.Scheme, Help: b.Help, Options: pluginOptions(b.Options)})
	}
	return stages, backends
}

func pluginOptions(specs []pipeline.OptionSpec) []pluginOption {
	out := []pluginOption{}
	for _, o := range specs {
		out = append(out, pluginOption{Name: o.Name, Type: o.Type.String(), Default: o.Default, Help: o.Help, Secret: o.Secret, Required: o.Required, Locates: o.Locates})
	}
	return out
}

func printPlugins(w io.Writer, stages []pluginStage, backends []pluginBackend) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	options := func(opts []pluginOption) {
		for _, o := range opts {
			var notes []string
			if o.Default != "" {
				notes = append(notes, "default "+o.Default)
			}
			if o.Required {
				notes = append(notes, "required")
			}
			if o.Secret {
				notes = append(notes, "secret reference")
			}
			if o.Locates {
				notes = append(notes, "kept in printed URLs")
			}
			note := ""
			if len(notes) > 0 {
				note = " (" + strings.Join(notes, ", ") + ")"
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s%s\n", o.Name, o.Type, o.Help, note)
		}
	}
	fmt.Fprintln(tw, "Stages:")
	for _, s := range stages {
		ext := s.Extension
		if ext == "" {
			ext = "no extension"
		}
		fmt.Fprintf(tw, "  %s\t%s, %s\t%s\n", s.Name, s.Kind, ext, s.Help)
		options(s.Options)
	}
	fmt.Fprintln(tw, "Backends:")
	for _, b := range backends {
		fmt.Fprintf(tw, "  %s://\t\t%s\n", b.Scheme, b.Help)
		options(b.Options)
	}
	tw.Flush()
}
