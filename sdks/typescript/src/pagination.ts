// List methods return a PagePromise: `await` it for one page, or iterate it
// with `for await` for every item of every page (following `next_page_token`
// into `page_token`). Nothing is requested until it is awaited or iterated.
// A page whose next_page_token is its own token is the last one (a server
// repeating a token would otherwise loop for ever), and a first page that
// failed is not kept: awaiting or iterating again asks again.

/** One page of a list. */
export interface Page<T> {
  /** The items on this page. */
  readonly data: T[];
  /** The token of the next page; undefined on the last page. */
  readonly nextPageToken: string | undefined;
  hasNextPage(): boolean;
  /** The next page; throws on the last page (check `hasNextPage()`). */
  getNextPage(): Promise<Page<T>>;
}

/** Fetches a page: `undefined` for the first one (the caller's own `pageToken`, if any). */
export type PageFetcher<T> = (pageToken: string | undefined) => Promise<{
  data: T[];
  nextPageToken: string | undefined;
}>;

function makePage<T>(
  fetcher: PageFetcher<T>,
  found: { data: T[]; nextPageToken: string | undefined },
  pageToken: string | undefined,
): Page<T> {
  // The same token again would fetch this very page again: stop instead.
  const next = found.nextPageToken || undefined;
  const nextPageToken = next === pageToken ? undefined : next;
  return {
    data: found.data,
    nextPageToken,
    hasNextPage: () => nextPageToken !== undefined,
    getNextPage: async () => {
      if (nextPageToken === undefined) throw new Error('this is the last page');
      return makePage(fetcher, await fetcher(nextPageToken), nextPageToken);
    },
  };
}

export class PagePromise<T> implements PromiseLike<Page<T>>, AsyncIterable<T> {
  readonly #fetcher: PageFetcher<T>;
  readonly #startToken: string | undefined;
  #first: Promise<Page<T>> | undefined;

  /** `startToken`: the caller's own `pageToken`, the first page's token. */
  constructor(fetcher: PageFetcher<T>, startToken?: string) {
    this.#fetcher = fetcher;
    this.#startToken = startToken || undefined;
  }

  #firstPage(): Promise<Page<T>> {
    if (this.#first === undefined) {
      const first = this.#fetcher(undefined).then(
        (found) => makePage(this.#fetcher, found, this.#startToken),
        (error: unknown) => {
          // Not kept: the next await or iteration asks again.
          if (this.#first === first) this.#first = undefined;
          throw error;
        },
      );
      this.#first = first;
    }
    return this.#first;
  }

  then<A = Page<T>, B = never>(
    onfulfilled?: ((value: Page<T>) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.#firstPage().then(onfulfilled, onrejected);
  }

  catch<B = never>(onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<Page<T> | B> {
    return this.#firstPage().catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<Page<T>> {
    return this.#firstPage().finally(onfinally);
  }

  /** Every page, the first one first. */
  async *pages(): AsyncGenerator<Page<T>, void, undefined> {
    let page = await this.#firstPage();
    for (;;) {
      yield page;
      if (!page.hasNextPage()) return;
      page = await page.getNextPage();
    }
  }

  /** Every item of every page. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for await (const page of this.pages()) yield* page.data;
  }

  /** Every item of every page, in one array (careful with big lists). */
  async toArray(): Promise<T[]> {
    const all: T[] = [];
    for await (const item of this) all.push(item);
    return all;
  }

  get [Symbol.toStringTag](): string {
    return 'PagePromise';
  }
}

/** A list's parameters for one page: the caller's, with the page token to follow. */
export function atPage<P extends { pageToken?: string }>(params: P, pageToken: string | undefined): P {
  return pageToken === undefined ? params : { ...params, pageToken };
}
