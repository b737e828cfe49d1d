// Repeated additions with the exact result of doing them one by one. Bulk paths of the model (a
// run of identical page faults, say) use it so their counters end where the per-page path would
// have left them, to the last bit of a floating-point sum.

/** `value` after `times` additions of `delta`, one after another. */
export function addRepeated(value: number, delta: number, times: number): number {
  const product = delta * times;
  const sum = value + product;
  // Every intermediate sum of safe integers is exact: the closed form is the same number.
  if (
    Number.isSafeInteger(value) &&
    Number.isSafeInteger(delta) &&
    Number.isSafeInteger(product) &&
    Number.isSafeInteger(sum)
  )
    return sum;
  for (let i = 0; i < times; i++) value += delta;
  return value;
}
