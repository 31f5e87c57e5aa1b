/**
 * The factory-reset button on the ESP32 (the manifest maps `hosts/moddable/button` here for
 * esp32; button.ts elsewhere): a push button from a GPIO to ground, read with ECMA-419
 * `embedded:io/digital` with the pull-up on, so pressed reads 0. Most boards have one on
 * GPIO 0 (BOOT): build with factoryResetPin=0.
 */
import Digital from "embedded:io/digital";

/** True while the button on `pin` is pressed; undefined when the pin cannot be opened (logged by the caller). */
export function createFactoryResetButton(pin: number): (() => boolean) | undefined {
  const input = new Digital({ pin, mode: Digital.InputPullUp });
  return () => input.read() === 0;
}
