// The braintree SDK ships no types; here it only produces the sample notifications of every kind.
declare module 'braintree';
