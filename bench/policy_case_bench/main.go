// OPA's evaluator (topdown, as the OPA server runs it) on each decision-table case, two policy
// directories interleaved case by case: µs per decision, A vs B.
//
//	cd bench/policy_case_bench && go run . ../../policies /tmp/other/policies [iters] [rounds]
//
// Why beside bench/policy_eval_bench.py: that one runs `opa bench` over the whole table, one
// policy per run, and this VM's speed swings by a third within minutes. Here both policies are
// prepared in one process (OPA v1.22 as a library, its store returning AST values as
// `opa run --optimize-store-for-read-speed` does) and measured alternately on every case, so a
// slow minute slows both; the best of `rounds` runs of `iters` evaluations is kept per case. The
// cases are read with Python's loader (the table's bases and patches), so run it from a checkout
// with .venv. It also checks that A and B decide every case alike, revision aside (exit status 1
// otherwise).
// Prints numbers; asserts nothing about time.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

type tableCase struct {
	Name  string         `json:"name"`
	Input map[string]any `json:"input"`
}

// prepare loads a policy directory as the OPA server would: its .rego files (not tests/) and
// data.json at the root of data.
func prepare(dir string) (rego.PreparedEvalQuery, error) {
	opts := []func(*rego.Rego){rego.Query("data.gateway.authz.decision")}
	paths, err := filepath.Glob(filepath.Join(dir, "*.rego"))
	if err != nil {
		return rego.PreparedEvalQuery{}, err
	}
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			return rego.PreparedEvalQuery{}, err
		}
		opts = append(opts, rego.Module(path, string(src)))
	}
	raw, err := os.ReadFile(filepath.Join(dir, "data.json"))
	if err != nil {
		return rego.PreparedEvalQuery{}, err
	}
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.UseNumber()
	var data map[string]any
	if err := decoder.Decode(&data); err != nil {
		return rego.PreparedEvalQuery{}, err
	}
	store := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false),
		inmem.OptReturnASTValuesOnRead(true))
	return rego.New(append(opts, rego.Store(store))...).PrepareForEval(context.Background())
}

// loadCases asks the project's own loader for the table's inputs (nulls pruned, as the engines
// send them).
func loadCases(root string) ([]tableCase, error) {
	script := `import json, sys
from pathlib import Path
sys.path.insert(0, ".")
from gateway.policy.engines.rego_input import prune_nulls
from tests.support.decision_table import load_decision_table
cases = load_decision_table(Path("policies/decision_table.yaml"))
print(json.dumps([{"name": c.name, "input": prune_nulls(c.input)} for c in cases]))`
	cmd := exec.Command(filepath.Join(root, ".venv", "bin", "python"), "-c", script)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("loading the decision table: %w", err)
	}
	// Numbers as json.Number, as OPA's server reads them: nanosecond times exceed float64's
	// precision (1700000000000000001 would become ...000 and flip a grant-expiry case).
	decoder := json.NewDecoder(bytes.NewReader(out))
	decoder.UseNumber()
	var cases []tableCase
	err = decoder.Decode(&cases)
	return cases, err
}

func stats(xs []float64) (mean, median float64) {
	sorted := append([]float64(nil), xs...)
	sort.Float64s(sorted)
	for _, x := range sorted {
		mean += x
	}
	return mean / float64(len(sorted)), sorted[len(sorted)/2]
}

func intArg(i, fallback int) int {
	if len(os.Args) > i {
		if n, err := strconv.Atoi(os.Args[i]); err == nil && n > 0 {
			return n
		}
	}
	return fallback
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: go run . POLICY_DIR_A POLICY_DIR_B [iters=100] [rounds=4]")
		os.Exit(2)
	}
	iters, rounds := intArg(3, 100), intArg(4, 4)
	queries := make([]rego.PreparedEvalQuery, 2)
	for i, dir := range os.Args[1:3] {
		q, err := prepare(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, dir+":", err)
			os.Exit(2)
		}
		queries[i] = q
	}
	root, _ := filepath.Abs("../..")
	cases, err := loadCases(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	measure := func(q rego.PreparedEvalQuery, input ast.Value) (float64, string) {
		var rs rego.ResultSet
		start := time.Now()
		for i := 0; i < iters; i++ {
			rs, err = q.Eval(ctx, rego.EvalParsedInput(input))
		}
		elapsed := float64(time.Since(start).Nanoseconds()) / float64(iters) / 1e3
		if err != nil || len(rs) == 0 {
			return elapsed, fmt.Sprint("error or undefined: ", err)
		}
		value := rs[0].Expressions[0].Value
		if fields, ok := value.(map[string]interface{}); ok {
			delete(fields, "revision") // each policy directory carries its own revision
		}
		decision, _ := json.Marshal(value)
		return elapsed, string(decision)
	}
	times := [2][]float64{}
	split := map[bool]*[2][]float64{true: {}, false: {}} // by the decision's allow
	differ := 0
	verbose := os.Getenv("VERBOSE") != ""
	for _, c := range cases {
		input, err := ast.InterfaceToValue(c.Input)
		if err != nil {
			fmt.Fprintln(os.Stderr, c.Name+":", err)
			os.Exit(2)
		}
		best := [2]float64{1e18, 1e18}
		decisions := [2]string{}
		for r := 0; r < rounds; r++ {
			for i, q := range queries {
				t, d := measure(q, input)
				best[i] = min(best[i], t)
				decisions[i] = d
			}
		}
		if decisions[0] != decisions[1] {
			differ++
			fmt.Printf("DIFFERENT %s\n  A %s\n  B %s\n", c.Name, decisions[0], decisions[1])
		}
		allowed := strings.Contains(decisions[0], `"allow":true`)
		if verbose {
			fmt.Printf("%8.1f %8.1f  allow=%-5v %s\n", best[0], best[1], allowed, c.Name)
		}
		for i := range 2 {
			times[i] = append(times[i], best[i])
			split[allowed][i] = append(split[allowed][i], best[i])
		}
	}
	meanA, medianA := stats(times[0])
	meanB, medianB := stats(times[1])
	fmt.Printf("%d cases, best of %d x %d evaluations each, µs per decision\n", len(cases), rounds, iters)
	fmt.Printf("  A %-40s mean %6.1f  median %6.1f\n", os.Args[1], meanA, medianA)
	fmt.Printf("  B %-40s mean %6.1f  median %6.1f\n", os.Args[2], meanB, medianB)
	for _, allowed := range []bool{true, false} {
		if part := split[allowed]; len(part[0]) > 0 {
			a, _ := stats(part[0])
			b, _ := stats(part[1])
			fmt.Printf("  %-6s (%3d cases) mean A %6.1f  B %6.1f  B/A %.3f\n",
				map[bool]string{true: "allows", false: "denies"}[allowed], len(part[0]), a, b, b/a)
		}
	}
	fmt.Printf("  B/A: mean %.3f, median %.3f; cases decided differently: %d\n",
		meanB/meanA, medianB/medianA, differ)
	if differ > 0 {
		os.Exit(1)
	}
}
