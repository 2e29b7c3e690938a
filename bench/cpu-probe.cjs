// Preloaded into each process bench/startup.ts times (`node --require`): at exit, prints the
// CPU time the process used (user + system, since it started) on stderr, marked, so the
// benchmark can read the cost of a start-up apart from the waits of a shared machine.
process.on('exit', () => {
  const { user, system } = process.cpuUsage();
  process.stderr.write(`\nvhw-bench-cpu-us ${user + system}\n`);
});
