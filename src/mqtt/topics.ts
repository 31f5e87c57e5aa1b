/**
 * The device protocol's topics on an MQTT broker (docs/mqtt.md): four per device, under a
 * prefix (default `moorline`), so one ACL line per broker (`pattern readwrite
 * <prefix>/%u/#` on mosquitto) keeps every device to its own.
 *
 *   <prefix>/<deviceId>/telemetry  device -> broker, QoS 1: telemetry records (PUBACK is the ack)
 *   <prefix>/<deviceId>/req        broker -> device, QoS 1: request envelopes (the device subscribes)
 *   <prefix>/<deviceId>/reply      device -> broker, QoS 1: replies and error messages
 *   <prefix>/<deviceId>/status     device -> broker, QoS 1, retained: hello with "online":true,
 *                                  and {"online":false} (the last will, or a clean goodbye)
 */
import { invalidOption } from "../shared/errors.js";

export const DEFAULT_MQTT_PREFIX = "moorline";

/** Longest prefix accepted, characters. */
export const MAX_PREFIX_CHARS = 64;

/**
 * A prefix: topic levels of letters, digits and . _ - separated by single slashes. No
 * wildcard (+ #), no `$` (brokers reserve $-topics, section 4.7.2), no empty level.
 */
const PREFIX = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

export interface MqttTopics {
  telemetry: string;
  req: string;
  reply: string;
  status: string;
}

/** The prefix, checked; errors name `name` (config.mqttPrefix). */
export function checkPrefix(name: string, prefix: unknown): string {
  if (typeof prefix !== "string" || prefix.length > MAX_PREFIX_CHARS || !PREFIX.test(prefix)) {
    throw invalidOption(name, `1 to ${MAX_PREFIX_CHARS} characters of topic levels (letters, digits, . _ -) separated by single slashes`, prefix);
  }
  return prefix;
}

/** The four topics of `deviceId` (which src/device/config.ts keeps free of / + # and spaces). */
export function deviceTopics(prefix: string, deviceId: string): MqttTopics {
  const base = `${prefix}/${deviceId}/`;
  return Object.freeze({ telemetry: `${base}telemetry`, req: `${base}req`, reply: `${base}reply`, status: `${base}status` });
}
