// Module resolution hook: resolve vhw workspace packages to their TypeScript sources
// (the "vhw-source" export condition), so sweep worker threads need no build step.
export async function resolve(specifier, context, nextResolve) {
  const conditions = context.conditions.includes('vhw-source') ? context.conditions : [...context.conditions, 'vhw-source'];
  return nextResolve(specifier, { ...context, conditions });
}
