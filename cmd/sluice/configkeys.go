package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// checkKeys returns an error for the first mapping in data, a document in
// format ext already decoded into doc (see [parseDocument]), that holds
// two keys equal once lower-cased, or (JSON, whose decoder keeps the last)
// the same key twice, which only data still shows. YAML and TOML parsers
// reject exact duplicates themselves.
func checkKeys(ext string, data []byte, doc map[string]any) error {
	if ext == "json" {
		return checkJSONKeys(data)
	}
	return checkTreeKeys("", doc)
}

// checkTreeKeys walks a decoded YAML or TOML document (maps in sorted key
// order, so the error is the same on every run).
func checkTreeKeys(path string, v any) error {
	switch x := v.(type) {
	case map[string]any:
		seen := map[string]string{}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if err := checkKey(path, seen, k); err != nil {
				return err
			}
			if err := checkTreeKeys(joinKey(path, k), x[k]); err != nil {
				return err
			}
		}
	case map[any]any: // YAML with keys that are not all strings
		m, _ := asStringMap(x)
		return checkTreeKeys(path, m)
	case []any:
		for i, e := range x {
			if err := checkTreeKeys(fmt.Sprintf("%s[%d]", path, i), e); err != nil {
				return err
			}
		}
	case []map[string]any: // TOML arrays of tables
		for i, e := range x {
			if err := checkTreeKeys(fmt.Sprintf("%s[%d]", path, i), e); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkJSONKeys walks a JSON document token by token: a decoded map
// would have kept only the last of two equal keys.
func checkJSONKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var walk func(path string) error
	walk = func(path string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]string{}
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := tok.(string) // the decoder allows only strings here
				if err := checkKey(path, seen, k); err != nil {
					return err
				}
				if err := walk(joinKey(path, k)); err != nil {
					return err
				}
			}
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := walk(fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		default:
			return nil
		}
		_, err = dec.Token() // the closing delimiter
		return err
	}
	return walk("")
}

// checkKey records key k of the mapping at path in seen (lower-cased key
// to key as written) and fails if an equal key is already there.
func checkKey(path string, seen map[string]string, k string) error {
	where := ""
	if path != "" {
		where = path + ": "
	}
	lk := strings.ToLower(k)
	prev, dup := seen[lk]
	switch {
	case dup && prev == k:
		return fmt.Errorf("%skey %q appears twice", where, k)
	case dup:
		return fmt.Errorf("%skeys %q and %q differ only in case (keys are case-insensitive: one would silently replace the other)", where, prev, k)
	}
	seen[lk] = k
	return nil
}

func joinKey(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}
