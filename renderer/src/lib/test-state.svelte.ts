// Tests only: a deeply reactive object, as a component's parent would hold it.
export function reactive<T extends object>(value: T): T {
  const state = $state(value);
  return state;
}
