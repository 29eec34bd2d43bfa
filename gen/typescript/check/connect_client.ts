// Compiled by the test run (tests/contract/test_stubs_compile.py), never run:
// the generated descriptors are what Connect's clients take, so a caller
// writes exactly this.
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import {
  CreateCustomerRequestSchema,
  CustomerService,
} from "../src/billingos/customers/v1/customers_pb.js";
import { EntitlementService } from "../src/billingos/entitlements/v1/entitlements_pb.js";

export function customers(transport: Transport): Client<typeof CustomerService> {
  return createClient(CustomerService, transport);
}

export async function createAda(transport: Transport): Promise<string> {
  const request = create(CreateCustomerRequestSchema, {
    customer: { email: "ada@example.com", externalId: "user_1" },
  });
  const customer = await customers(transport).createCustomer(request);
  return customer.id;
}

export function entitlements(transport: Transport): Client<typeof EntitlementService> {
  return createClient(EntitlementService, transport);
}
