package config

import (
	"fmt"
	"reflect"
)

// The config's keys are its structs' mapstructure tags; these helpers walk them, for
// the key checks, the non-finite check, the environment's key paths and Diff.

// keyedFields are the fields of struct type t that are config keys.
func keyedFields(t reflect.Type) []reflect.StructField {
	var fs []reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.IsExported() && f.Tag.Get("mapstructure") != "" {
			fs = append(fs, f)
		}
	}
	return fs
}

func keyOf(f reflect.StructField) string { return f.Tag.Get("mapstructure") }

// joinKey is path.key, or key at the top.
func joinKey(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// Diff lists "key (old -> new)" for every key whose value differs between a and b,
// leaving out the keys in skip and everything under them.
func Diff(a, b *Config, skip map[string]bool) []string {
	var out []string
	diff(reflect.ValueOf(*a), reflect.ValueOf(*b), "", skip, &out)
	return out
}

func diff(a, b reflect.Value, path string, skip map[string]bool, out *[]string) {
	if skip[path] {
		return
	}
	switch a.Kind() {
	case reflect.Struct:
		for _, f := range keyedFields(a.Type()) {
			diff(a.FieldByIndex(f.Index), b.FieldByIndex(f.Index), joinKey(path, keyOf(f)), skip, out)
		}
		return
	case reflect.Slice:
		if a.Len() == b.Len() && a.Type().Elem().Kind() == reflect.Struct {
			for i := 0; i < a.Len(); i++ {
				diff(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i), skip, out)
			}
			return
		}
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		*out = append(*out, fmt.Sprintf("%s (%v -> %v)", path, show(a), show(b)))
	}
}

// show is a value as a diff line prints it: a pointer by what it points at.
func show(v reflect.Value) any {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "unset"
		}
		return v.Elem().Interface()
	}
	return v.Interface()
}
