import styled from "styled-components";
import { QUICK_FILTERS, type QuickFilter } from "../market/boardQuery";
import { Button, TextInput } from "./controls";
import { SymbolSearch } from "./SymbolSearch";

const Bar = styled.div`
  display: flex;
  flex-wrap: wrap;
  gap: 8px;
  align-items: center;
`;

const Filter = styled.label`
  flex: 1 1 180px;
  max-width: 280px;
  @media (max-width: 700px) { max-width: none; }
`;

const Quick = styled.div`
  display: flex;
  gap: 4px;
  flex-wrap: wrap;
`;

interface BoardToolbarProps {
  text: string;
  quick: QuickFilter;
  onText(text: string): void;
  onQuick(quick: QuickFilter): void;
}

/** Filter the board by text or by a quick filter; add symbols through the search. */
export function BoardToolbar({ text, quick, onText, onQuick }: BoardToolbarProps) {
  return (
    <Bar>
      <Filter>
        <span className="visually-hidden">Filter the board</span>
        <TextInput
          type="search"
          placeholder="Filter symbols…"
          value={text}
          onChange={(event) => onText(event.target.value)}
          data-testid="filter-input"
        />
      </Filter>
      <Quick role="group" aria-label="Quick filters">
        {QUICK_FILTERS.map((f) => (
          <Button
            key={f.id}
            type="button"
            aria-pressed={quick === f.id}
            onClick={() => onQuick(f.id)}
            data-testid={`quick-filter-${f.id}`}
          >
            {f.label}
          </Button>
        ))}
      </Quick>
      <SymbolSearch />
    </Bar>
  );
}
