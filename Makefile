# Shortcuts for the scripts; the scripts themselves need only bash.
.PHONY: demo test bench
demo:
	scripts/demo
test:
	scripts/test
bench:
	cargo bench -p loopy-core
	bench/scan
