/** Where a test makes a rank fail: inside optimizer step `step` (after its backward), and halfway through its checkpoint write of `step`. */
export interface Faults {
  inStep(step: number): void;
  inSave(step: number): Promise<void>;
}
