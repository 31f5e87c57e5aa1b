/**
 * The factory-reset button where the build has none: Moddable's simulator (the manifest maps
 * `hosts/moddable/button` here for lin, mac and win; the ESP32's is button-esp32.ts).
 */

/** No button: src/provisioning watches nothing. */
export function createFactoryResetButton(_pin: number): (() => boolean) | undefined {
  return undefined;
}
