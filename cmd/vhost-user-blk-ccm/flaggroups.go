package main

import (
	"flag"
	"fmt"
	"strings"
)

// A flagGroup is one titled section of --help: the flags its define
// functions register.
type flagGroup struct {
	title string
	names []string
}

// flagGroups are the sections of --help in the order they were first
// named; the logging flags follow them.
var flagGroups []*flagGroup

// group registers, as the --help section title, every flag that define
// defines on flag.CommandLine. Naming a title again adds to its section.
// Every flag of the program's own belongs to a group: a flag defined
// outside one makes the program refuse to start (see checkGrouped).
func group(title string, define func()) {
	before := definedFlags()
	define()
	var g *flagGroup
	for _, h := range flagGroups {
		if h.title == title {
			g = h
		}
	}
	if g == nil {
		g = &flagGroup{title: title}
		flagGroups = append(flagGroups, g)
	}
	flag.VisitAll(func(f *flag.Flag) {
		if !before[f.Name] {
			g.names = append(g.names, f.Name)
		}
	})
}

// definedFlags returns the names defined on flag.CommandLine so far.
func definedFlags() map[string]bool {
	m := map[string]bool{}
	flag.VisitAll(func(f *flag.Flag) { m[f.Name] = true })
	return m
}

// checkGrouped returns an error naming every flag that is neither in a
// group nor one of logging, the flags defined before the groups (glog's).
func checkGrouped(logging map[string]bool) error {
	in := map[string]bool{}
	for _, g := range flagGroups {
		for _, n := range g.names {
			in[n] = true
		}
	}
	var stray []string
	flag.VisitAll(func(f *flag.Flag) {
		if !in[f.Name] && !logging[f.Name] {
			stray = append(stray, "--"+f.Name)
		}
	})
	if len(stray) > 0 {
		return fmt.Errorf("flags %s are in no --help group: define them inside group(...)", strings.Join(stray, ", "))
	}
	return nil
}
