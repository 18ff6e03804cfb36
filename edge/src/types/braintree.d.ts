// The braintree SDK ships no types; it is used only by tests (cross-checks) and the simulator.
declare module 'braintree';
